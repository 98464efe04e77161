"""The senders' SQL: claiming due notifications for a while, and recording what came of them.

A claim moves ``next_attempt_at`` to the end of the claim, so no sender sees the notification as
due before then, and commits at once: nothing is locked while the transport sends. The claim's
end also identifies it: an outcome other than "sent" is recorded only while it still holds
(another sender may have claimed the notification since, or the contact arrived and made it due
at once). One statement per pass each way, whatever the batch size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import Session

from notification_service.application.ports import Claim
from notification_service.domain.delivery import Delivery, Outcome
from notification_service.domain.model import MESSAGING_CHANNELS, Channel, Contact, Kind, Mail
from servicekit.db import sql

_KNOWN = {channel.value: channel for channel in MESSAGING_CHANNELS}

# Claims the oldest due notifications and, in the same round trip, says when the next other one
# is due: the sender needs no extra query to know whether to go on or sleep. One without a
# recipient comes with its customer's contact, if known: the contact committed while the
# notification was being recorded, so nothing settled it (the sender does, Contact.settle).
_CLAIM = """
WITH due AS (
    SELECT notification_id, next_attempt_at AS due_at, created_at
    FROM notifications
    WHERE status = 'PENDING' AND channel = %(channel)s AND next_attempt_at <= now()
    ORDER BY next_attempt_at, created_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE notifications AS n SET next_attempt_at = now() + make_interval(secs => %(lease)s)
    FROM due WHERE n.notification_id = due.notification_id
    RETURNING n.notification_id, n.user_id, n.kind, n.subject, n.body, n.attempts, n.recipient,
              n.next_attempt_at AS claimed_until, due.due_at, due.created_at
)
SELECT c.notification_id::text AS notification_id, c.user_id::text AS user_id, c.kind,
       c.subject, c.body, c.attempts, c.recipient,
       EXTRACT(EPOCH FROM now() - c.created_at)::float8 AS waited, c.claimed_until,
       k.user_id IS NOT NULL AS contact_known, k.email, k.full_name, k.phone, k.channels, k.guest,
       (SELECT EXTRACT(EPOCH FROM min(next_attempt_at) - now())::float8 FROM notifications
         WHERE status = 'PENDING' AND channel = %(channel)s
           AND notification_id NOT IN (SELECT notification_id FROM due)) AS next_due_in
FROM (VALUES (1)) AS always_one_row LEFT JOIN claimed AS c ON true
LEFT JOIN contacts AS k ON c.recipient IS NULL AND k.user_id = c.user_id
ORDER BY c.due_at, c.created_at
"""

_RECORD = """
UPDATE notifications AS n
SET status = o.status, channel = COALESCE(o.channel, n.channel), attempts = o.attempts,
    last_error = o.error,
    recipient = COALESCE(o.recipient, n.recipient),
    sent_at = CASE WHEN o.status = 'SENT' THEN now() ELSE n.sent_at END,
    next_attempt_at = CASE WHEN o.retry_in IS NULL THEN n.next_attempt_at
                           ELSE now() + make_interval(secs => o.retry_in) END
FROM unnest(%(ids)s::uuid[], %(claims)s::timestamptz[], %(statuses)s::text[],
            %(attempts)s::int[], %(errors)s::text[], %(retry_in)s::float8[],
            %(recipients)s::text[], %(channels)s::text[])
     AS o(notification_id, claimed_until, status, attempts, error, retry_in, recipient, channel)
WHERE n.notification_id = o.notification_id AND n.status = 'PENDING'
  AND (o.status = 'SENT' OR n.next_attempt_at = o.claimed_until)
"""

_RELEASE = """
UPDATE notifications AS n SET next_attempt_at = now()
FROM unnest(%(ids)s::uuid[], %(claims)s::timestamptz[]) AS r(notification_id, claimed_until)
WHERE n.notification_id = r.notification_id AND n.status = 'PENDING'
  AND n.next_attempt_at = r.claimed_until
"""


def contact_from_row(user_id: str, row: Row[Any]) -> Contact:
    """A contact from its columns (a channel this code does not know is left out)."""
    return Contact(
        user_id=user_id,
        email=row.email,
        full_name=row.full_name,
        phone=row.phone,
        notification_channels=tuple(_KNOWN[c] for c in row.channels if c in _KNOWN),
        guest=row.guest,
    )


class SqlDeliveries:
    """Notifications in PostgreSQL, as the senders deliver them."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def claim(self, channel: Channel, *, limit: int, lease: float) -> Claim:
        """See Deliveries.claim."""
        rows = sql(
            self._session, _CLAIM, {"channel": channel.value, "limit": limit, "lease": lease}
        ).all()
        deliveries = [
            Delivery(
                notification_id=row.notification_id,
                kind=Kind(row.kind),
                channel=channel,
                message=Mail(subject=row.subject, body=row.body),
                recipient=row.recipient,
                attempts=row.attempts,
                waited=row.waited,
                claimed_until=row.claimed_until,
                contact=contact_from_row(row.user_id, row) if row.contact_known else None,
            )
            for row in rows
            if row.notification_id is not None
        ]
        return Claim(deliveries, rows[0].next_due_in)

    def record(self, outcomes: Sequence[Outcome]) -> None:
        """See Deliveries.record."""
        if not outcomes:
            return
        sql(
            self._session,
            _RECORD,
            {
                "ids": [o.delivery.notification_id for o in outcomes],
                "claims": [o.delivery.claimed_until for o in outcomes],
                "statuses": [o.status.value for o in outcomes],
                "attempts": [o.attempts for o in outcomes],
                "errors": [o.error for o in outcomes],
                "retry_in": [o.retry_in for o in outcomes],
                "recipients": [o.recipient for o in outcomes],
                "channels": [o.channel.value if o.channel else None for o in outcomes],
            },
        )

    def release(self, deliveries: Sequence[Delivery]) -> None:
        """See Deliveries.release."""
        if not deliveries:
            return
        sql(
            self._session,
            _RELEASE,
            {
                "ids": [d.notification_id for d in deliveries],
                "claims": [d.claimed_until for d in deliveries],
            },
        )
