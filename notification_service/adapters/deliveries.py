"""The senders' SQL: claiming due notifications for a while, and recording what came of them.

A claim moves ``next_attempt_at`` to the end of the claim, so no sender sees the notification as
due before then, and commits at once: nothing is locked while the transport sends. The claim's
end also identifies it: an outcome other than "sent" is recorded only while it still holds
(another sender may have claimed the notification since, or the contact arrived and made it due
at once). One statement per pass each way, whatever the batch size.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from notification_service.application.ports import Claim
from notification_service.domain.delivery import Delivery, Outcome
from notification_service.domain.model import Channel, Kind, Mail
from servicekit.db import sql

# Claims the oldest due notifications and, in the same round trip, says when the next other one
# is due: the sender needs no extra query to know whether to go on or sleep. The recipient
# falls back to the contact for mail queued before account.registered committed.
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
SELECT c.notification_id::text AS notification_id, c.kind, c.subject, c.body, c.attempts,
       COALESCE(c.recipient, (SELECT email FROM contacts WHERE user_id = c.user_id)) AS recipient,
       EXTRACT(EPOCH FROM now() - c.created_at)::float8 AS waited, c.claimed_until,
       (SELECT EXTRACT(EPOCH FROM min(next_attempt_at) - now())::float8 FROM notifications
         WHERE status = 'PENDING' AND channel = %(channel)s
           AND notification_id NOT IN (SELECT notification_id FROM due)) AS next_due_in
FROM (VALUES (1)) AS always_one_row LEFT JOIN claimed AS c ON true
ORDER BY c.due_at, c.created_at
"""

_RECORD = """
UPDATE notifications AS n
SET status = o.status, attempts = o.attempts, last_error = o.error,
    recipient = COALESCE(o.recipient, n.recipient),
    sent_at = CASE WHEN o.status = 'SENT' THEN now() ELSE n.sent_at END,
    next_attempt_at = CASE WHEN o.retry_in IS NULL THEN n.next_attempt_at
                           ELSE now() + make_interval(secs => o.retry_in) END
FROM unnest(%(ids)s::uuid[], %(claims)s::timestamptz[], %(statuses)s::text[],
            %(attempts)s::int[], %(errors)s::text[], %(retry_in)s::float8[],
            %(recipients)s::text[])
     AS o(notification_id, claimed_until, status, attempts, error, retry_in, recipient)
WHERE n.notification_id = o.notification_id AND n.status = 'PENDING'
  AND (o.status = 'SENT' OR n.next_attempt_at = o.claimed_until)
"""

_RELEASE = """
UPDATE notifications AS n SET next_attempt_at = now()
FROM unnest(%(ids)s::uuid[], %(claims)s::timestamptz[]) AS r(notification_id, claimed_until)
WHERE n.notification_id = r.notification_id AND n.status = 'PENDING'
  AND n.next_attempt_at = r.claimed_until
"""


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
