"""The SQL side of the notification use cases: the repositories behind application/ports.py
and the unit of work that holds them.

Hand-written through ``servicekit.db.sql``: these run for every consumed event and every email,
where a Core statement's Python cost (about twice this) showed in the saga benchmark's CPU.
Statuses in conditions are literals, not parameters, so that PostgreSQL matches the partial
index ``notifications_due`` (``WHERE status = 'PENDING'``, migrations/versions/0002).

Notifications emit no events, so no aggregate lock is taken: one notification per event (and
channel) is the unique key's work, whatever runs concurrently.

A transaction that queues notifications, or makes waiting ones due, marks its session with their
channels; ``on_mail_queued`` turns the commit of such a transaction into a call, which wakes those
channels' senders.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self

from sqlalchemy.orm import Session, sessionmaker

from notification_service.adapters.deliveries import SqlDeliveries, contact_from_row
from notification_service.domain.delivery import NOT_TAKEN
from notification_service.domain.model import (
    MESSAGING_CHANNELS,
    Channel,
    Contact,
    Notification,
    Status,
)
from servicekit.db import note_for_commit, on_commit_of, sql
from servicekit.messaging.unit_of_work import Cause, SqlUnitOfWork

_QUEUED = "notification_service.queued"  # the channels a transaction queued mail on

_CONTACT_COLUMNS = "(user_id, email, full_name, phone, channels, guest, profile_seen)"

_LEARN = f"""
INSERT INTO contacts {_CONTACT_COLUMNS}
VALUES (%(user_id)s::uuid, %(email)s, %(full_name)s, NULL, '{{email}}', %(guest)s, false)
ON CONFLICT (user_id) DO UPDATE
SET email = EXCLUDED.email, full_name = EXCLUDED.full_name, guest = EXCLUDED.guest,
    updated_at = now()
WHERE NOT contacts.profile_seen
"""

_CONVERT = f"""
INSERT INTO contacts {_CONTACT_COLUMNS}
VALUES (%(user_id)s::uuid, %(email)s, %(full_name)s, NULL, '{{email}}', false, false)
ON CONFLICT (user_id) DO UPDATE
SET email = COALESCE(contacts.email, EXCLUDED.email), full_name = EXCLUDED.full_name,
    guest = false, updated_at = now()
"""

_SAVE = f"""
INSERT INTO contacts {_CONTACT_COLUMNS}
VALUES (%(user_id)s::uuid, %(email)s, %(full_name)s, %(phone)s, %(channels)s::text[],
        %(guest)s, true)
ON CONFLICT (user_id) DO UPDATE
SET email = EXCLUDED.email, full_name = EXCLUDED.full_name, phone = EXCLUDED.phone,
    channels = EXCLUDED.channels, guest = EXCLUDED.guest, profile_seen = true, updated_at = now()
"""

_CONTACT = """
SELECT email, full_name, phone, channels, guest FROM contacts WHERE user_id = %(user_id)s::uuid
"""

# The inbox already skips a redelivery; the unique (event_id, channel) makes "one per event and
# channel" hold regardless. In the app a notification is delivered by being recorded.
_ADD = """
INSERT INTO notifications
    (notification_id, user_id, event_id, kind, channel, recipient, subject, body, status,
     sent_at)
VALUES (%(notification_id)s::uuid, %(user_id)s::uuid, %(event_id)s::uuid, %(kind)s,
        %(channel)s, %(recipient)s, %(subject)s, %(body)s, %(status)s,
        CASE WHEN %(status)s = 'SENT' THEN now() END)
ON CONFLICT (event_id, channel) DO NOTHING
RETURNING notification_id
"""

_SETTLE_WAITING = """
UPDATE notifications
SET channel = %(to_channel)s, status = %(status)s, recipient = %(address)s,
    next_attempt_at = now(), last_error = %(error)s,
    sent_at = CASE WHEN %(status)s = 'SENT' THEN now() END
WHERE user_id = %(user_id)s::uuid AND channel = %(channel)s AND status = 'PENDING'
  AND recipient IS NULL
"""


def on_mail_queued(
    sessions: sessionmaker[Session], callback: Callable[[frozenset[Channel]], None]
) -> None:
    """Call ``callback`` with the channels after each commit of a ``sessions`` transaction that
    queued notifications on them (made them due)."""
    on_commit_of(sessions, _QUEUED, lambda channels: callback(frozenset(channels)))


def _queued(session: Session, channel: Channel) -> None:
    note_for_commit(session, _QUEUED, channel)


class SqlContacts:
    """Contacts in PostgreSQL."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def learn(self, contact: Contact) -> None:
        """See Contacts.learn."""
        sql(self._session, _LEARN, self._values(contact))

    def convert(self, contact: Contact) -> None:
        """See Contacts.convert."""
        sql(self._session, _CONVERT, self._values(contact))

    def save(self, contact: Contact) -> None:
        """See Contacts.save."""
        sql(self._session, _SAVE, self._values(contact))

    def get(self, user_id: str) -> Contact | None:
        """See Contacts.get."""
        row = sql(self._session, _CONTACT, {"user_id": user_id}).first()
        return contact_from_row(user_id, row) if row is not None else None

    @staticmethod
    def _values(contact: Contact) -> dict[str, Any]:
        return {
            "user_id": contact.user_id,
            "email": contact.email,
            "full_name": contact.full_name,
            "phone": contact.phone,
            "channels": [c.value for c in contact.notification_channels],
            "guest": contact.guest,
        }


class SqlNotifications:
    """Notifications in PostgreSQL, as the consumers record them."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, notification: Notification) -> bool:
        """See Notifications.add."""
        status = notification.status
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
                "status": status.value,
            },
        ).first()
        if created is not None and status is Status.PENDING:
            _queued(self._session, notification.channel)
        return created is not None

    def settle_waiting(self, contact: Contact) -> int:
        """See Notifications.settle_waiting."""
        settled = 0
        for channel in MESSAGING_CHANNELS:
            settlement = contact.settle(channel)
            values = {
                "user_id": contact.user_id,
                "channel": channel.value,
                "to_channel": settlement.channel.value,
                "status": settlement.status.value,
                "address": settlement.recipient,
                "error": NOT_TAKEN if settlement.status is Status.SKIPPED else None,
            }
            count = sql(self._session, _SETTLE_WAITING, values).rowcount
            if count and settlement.status is Status.PENDING:
                _queued(self._session, settlement.channel)
            settled += count
        return settled


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
