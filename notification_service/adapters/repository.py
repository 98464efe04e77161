"""The SQL side of the notification use cases: the repositories behind application/ports.py
and the unit of work that holds them.

Hand-written through ``servicekit.db.sql``: these run for every consumed event and every email,
where a Core statement's Python cost (about twice this) showed in the saga benchmark's CPU.
Statuses in conditions are literals, not parameters, so that PostgreSQL matches the partial
index ``notifications_due`` (``WHERE status = 'PENDING'``, migrations/versions/0002).

Notifications emit no events, so no aggregate lock is taken: one notification per event (and
channel) is the unique key's work, whatever runs concurrently.

A transaction that queues mail, or makes waiting mail due, marks its session; ``on_mail_queued``
turns the commit of such a transaction into a call, which wakes the sender loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Self

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from notification_service.adapters.deliveries import SqlDeliveries
from notification_service.domain.model import Contact, Notification
from servicekit.db import sql
from servicekit.messaging.unit_of_work import Cause, SqlUnitOfWork

_MAIL_QUEUED = "notification_service.mail_queued"  # session.info key, until commit or rollback

_SAVE_CONTACT = """
INSERT INTO contacts (user_id, email, full_name)
VALUES (%(user_id)s::uuid, %(email)s, %(full_name)s)
ON CONFLICT (user_id) DO UPDATE
SET email = EXCLUDED.email, full_name = EXCLUDED.full_name, updated_at = now()
"""

_CONTACT = "SELECT email, full_name FROM contacts WHERE user_id = %(user_id)s::uuid"

# The inbox already skips a redelivery; the unique event_id makes "one per event" hold
# regardless. (While email is the only channel; a second one makes the key (event_id, channel).)
_ADD = """
INSERT INTO notifications
    (notification_id, user_id, event_id, kind, channel, recipient, subject, body, status)
VALUES (%(notification_id)s::uuid, %(user_id)s::uuid, %(event_id)s::uuid, %(kind)s,
        %(channel)s, %(recipient)s, %(subject)s, %(body)s, 'PENDING')
ON CONFLICT (event_id) DO NOTHING
RETURNING notification_id
"""

_RELEASE_WAITING = """
UPDATE notifications SET recipient = %(address)s, next_attempt_at = now()
WHERE user_id = %(user_id)s::uuid AND channel = %(channel)s AND status = 'PENDING'
  AND recipient IS NULL
"""


def on_mail_queued(sessions: sessionmaker[Session], callback: Callable[[], None]) -> None:
    """Call ``callback`` after each commit of a ``sessions`` transaction that queued mail."""

    def after_commit(session: Session) -> None:
        if session.info.pop(_MAIL_QUEUED, False):
            callback()

    def after_rollback(session: Session) -> None:
        session.info.pop(_MAIL_QUEUED, None)

    event.listen(sessions, "after_commit", after_commit)
    event.listen(sessions, "after_rollback", after_rollback)


class SqlContacts:
    """Contacts in PostgreSQL."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def save(self, contact: Contact) -> None:
        """See Contacts.save."""
        sql(
            self._session,
            _SAVE_CONTACT,
            {"user_id": contact.user_id, "email": contact.email, "full_name": contact.full_name},
        )

    def get(self, user_id: str) -> Contact | None:
        """See Contacts.get."""
        row = sql(self._session, _CONTACT, {"user_id": user_id}).first()
        return Contact(user_id, row.email, row.full_name) if row is not None else None


class SqlNotifications:
    """Notifications in PostgreSQL, as the consumers record them."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, notification: Notification) -> bool:
        """See Notifications.add."""
        created = sql(
            self._session,
            _ADD,
            {
                "notification_id": notification.notification_id,
                "user_id": notification.user_id,
                "event_id": notification.event_id,
                "kind": notification.kind.value,
                "channel": notification.channel.value,
                "recipient": notification.recipient,
                "subject": notification.message.subject,
                "body": notification.message.body,
            },
        ).first()
        if created is not None:
            self._session.info[_MAIL_QUEUED] = True
        return created is not None

    def release_waiting(self, contact: Contact) -> int:
        """See Notifications.release_waiting."""
        released = 0
        for channel in contact.channels:
            address = contact.address(channel)
            if address is None:
                continue
            values = {"user_id": contact.user_id, "channel": channel.value, "address": address}
            released += sql(self._session, _RELEASE_WAITING, values).rowcount
        if released:
            self._session.info[_MAIL_QUEUED] = True
        return released


class SqlNotificationUnitOfWork(SqlUnitOfWork):
    """The notification service's unit of work on PostgreSQL: the repositories share its
    session."""

    def __init__(
        self, session: Session, *, owns_transaction: bool = True, cause: Cause | None = None
    ) -> None:
        super().__init__(session, owns_transaction=owns_transaction, cause=cause)
        self.contacts = SqlContacts(session)
        self.notifications = SqlNotifications(session)
        self.deliveries = SqlDeliveries(session)

    @classmethod
    def joining(cls, session: Session, cause: Cause) -> Self:
        """One that joins the inbox consumer's transaction (consumed events)."""
        return cls(session, owns_transaction=False, cause=cause)
