"""The notification service's SQL: contacts, notifications, and the sender's claim and outcomes.

Hand-written through ``servicekit.db.sql``: these run for every consumed event and every email,
where a Core statement's Python cost (about twice this) showed in the saga benchmark's CPU.
UUID columns come back as ``uuid.UUID`` (cast to text where a ``str`` is wanted). Statuses are
literals, not parameters, so that PostgreSQL matches the partial index ``notifications_due``
(``WHERE status = 'PENDING'``, migrations/versions/0002_notifications.py).

A transaction that queues mail, or makes waiting mail due, marks its session; ``on_mail_queued``
turns the commit of such a transaction into a call, which wakes the sender loop.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session, sessionmaker

from notification_service.domain.model import EMAIL, Kind, Mail
from servicekit.db import sql

_MAIL_QUEUED = "notification_service.mail_queued"  # session.info key, until commit or rollback

_SAVE_CONTACT_SQL = (
    "INSERT INTO contacts (user_id, email, full_name)"
    " VALUES (%(user_id)s::uuid, %(email)s, %(full_name)s)"
    " ON CONFLICT (user_id) DO UPDATE"
    " SET email = EXCLUDED.email, full_name = EXCLUDED.full_name, updated_at = now()"
)
_CONTACT_SQL = "SELECT email, full_name FROM contacts WHERE user_id = %(user_id)s::uuid"
_ADD_SQL = (
    "INSERT INTO notifications"
    " (notification_id, user_id, event_id, kind, channel, recipient, subject, body, status)"
    " VALUES (%(notification_id)s::uuid, %(user_id)s::uuid, %(event_id)s::uuid, %(kind)s,"
    " %(channel)s, %(recipient)s, %(subject)s, %(body)s, 'PENDING')"
    # The inbox already skips a redelivery; this makes "one per event" hold regardless.
    " ON CONFLICT (event_id) DO NOTHING RETURNING notification_id"
)
_RELEASE_SQL = (
    "UPDATE notifications SET recipient = %(email)s, next_attempt_at = now()"
    " WHERE user_id = %(user_id)s::uuid AND status = 'PENDING' AND recipient IS NULL"
)
_LIST_SQL = (
    "SELECT notification_id, kind, channel, subject, status, created_at, sent_at"
    " FROM notifications WHERE user_id = %(user_id)s::uuid"
    " ORDER BY created_at DESC, notification_id LIMIT %(limit)s"
)
# Claims the oldest due notification (if any) and, in the same round trip, says when the next
# other one is due: the sender needs no extra query to know whether to go on or sleep. The
# recipient falls back to the contact for mail queued before account.registered committed.
_CLAIM_SQL = """
WITH claimed AS (
    SELECT notification_id, user_id, recipient, kind, subject, body, attempts, created_at
    FROM notifications
    WHERE status = 'PENDING' AND next_attempt_at <= now()
    ORDER BY next_attempt_at, created_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
SELECT c.notification_id::text AS notification_id, c.kind, c.subject, c.body, c.attempts,
       COALESCE(c.recipient, (SELECT email FROM contacts WHERE user_id = c.user_id)) AS recipient,
       EXTRACT(EPOCH FROM now() - c.created_at)::float8 AS waited,
       (SELECT EXTRACT(EPOCH FROM min(next_attempt_at) - now())::float8 FROM notifications
         WHERE status = 'PENDING' AND notification_id IS DISTINCT FROM c.notification_id
       ) AS next_due_in
FROM (VALUES (1)) AS always_one_row LEFT JOIN claimed AS c ON true
"""
_SENT_SQL = (
    "UPDATE notifications SET status = 'SENT', recipient = %(recipient)s,"
    " attempts = %(attempts)s, last_error = NULL, sent_at = now()"
    " WHERE notification_id = %(notification_id)s::uuid"
)
_RESCHEDULE_SQL = (
    "UPDATE notifications SET attempts = %(attempts)s, last_error = %(error)s,"
    " next_attempt_at = now() + make_interval(secs => %(delay)s)"
    " WHERE notification_id = %(notification_id)s::uuid"
)
_FAILED_SQL = (
    "UPDATE notifications SET status = 'FAILED', attempts = %(attempts)s, last_error = %(error)s"
    " WHERE notification_id = %(notification_id)s::uuid"
)


@dataclass(frozen=True, slots=True)
class Contact:
    """Who a user's mail goes to."""

    email: str
    full_name: str


@dataclass(frozen=True, slots=True)
class Claimed:
    """A notification locked for delivery until its transaction ends."""

    notification_id: str
    kind: str
    mail: Mail
    attempts: int
    recipient: str | None  # the contact's address if the row had none yet
    waited: float  # seconds since it was queued


@dataclass(frozen=True, slots=True)
class Claim:
    """The claimed notification, if one was due, and when the next other one is due."""

    notification: Claimed | None
    next_due_in: float | None  # seconds, <= 0 when due now; None when nothing else is pending


def on_mail_queued(sessions: sessionmaker[Session], callback: Callable[[], None]) -> None:
    """Call ``callback`` after each commit of a ``sessions`` transaction that queued mail."""

    def after_commit(session: Session) -> None:
        if session.info.pop(_MAIL_QUEUED, False):
            callback()

    def after_rollback(session: Session) -> None:
        session.info.pop(_MAIL_QUEUED, None)

    event.listen(sessions, "after_commit", after_commit)
    event.listen(sessions, "after_rollback", after_rollback)


def save_contact(session: Session, *, user_id: str, email: str, full_name: str) -> None:
    """Insert or update a user's contact."""
    sql(session, _SAVE_CONTACT_SQL, {"user_id": user_id, "email": email, "full_name": full_name})


def find_contact(session: Session, user_id: str) -> Contact | None:
    """A user's contact, if account.registered has been seen."""
    row = sql(session, _CONTACT_SQL, {"user_id": user_id}).first()
    return Contact(email=row.email, full_name=row.full_name) if row else None


def add_notification(
    session: Session,
    *,
    event_id: str,
    user_id: str,
    kind: Kind,
    recipient: str | None,
    mail: Mail,
) -> bool:
    """Queue a PENDING notification for an event; False if that event already has one."""
    created = sql(
        session,
        _ADD_SQL,
        {
            "notification_id": str(uuid.uuid4()),
            "user_id": user_id,
            "event_id": event_id,
            "kind": kind.value,
            "channel": EMAIL,
            "recipient": recipient,
            "subject": mail.subject,
            "body": mail.body,
        },
    ).first()
    if created is not None:
        session.info[_MAIL_QUEUED] = True
    return created is not None


def release_waiting(session: Session, *, user_id: str, email: str) -> int:
    """Give a user's mail that waited for the contact its recipient, due now; how many."""
    released: int = sql(session, _RELEASE_SQL, {"user_id": user_id, "email": email}).rowcount
    if released:
        session.info[_MAIL_QUEUED] = True
    return released


def list_for_user(session: Session, *, user_id: str, limit: int) -> list[RowMapping]:
    """A user's notifications, newest first (without their bodies)."""
    return list(sql(session, _LIST_SQL, {"user_id": user_id, "limit": limit}).mappings().all())


def claim_due(session: Session) -> Claim:
    """Lock the oldest due notification that no other transaction holds, if there is one."""
    row = sql(session, _CLAIM_SQL).one()
    if row.notification_id is None:
        return Claim(notification=None, next_due_in=row.next_due_in)
    claimed = Claimed(
        notification_id=row.notification_id,
        kind=row.kind,
        mail=Mail(subject=row.subject, body=row.body),
        attempts=row.attempts,
        recipient=row.recipient,
        waited=row.waited,
    )
    return Claim(notification=claimed, next_due_in=row.next_due_in)


def mark_sent(session: Session, notification_id: str, *, recipient: str, attempts: int) -> None:
    """The SMTP server accepted it."""
    sql(
        session,
        _SENT_SQL,
        {"notification_id": notification_id, "recipient": recipient, "attempts": attempts},
    )


def reschedule(
    session: Session, notification_id: str, *, attempts: int, error: str, delay: float
) -> None:
    """Try again in ``delay`` seconds."""
    sql(
        session,
        _RESCHEDULE_SQL,
        {"notification_id": notification_id, "attempts": attempts, "error": error, "delay": delay},
    )


def mark_failed(session: Session, notification_id: str, *, attempts: int, error: str) -> None:
    """Given up on."""
    sql(
        session,
        _FAILED_SQL,
        {"notification_id": notification_id, "attempts": attempts, "error": error},
    )
