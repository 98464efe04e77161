"""The charging worker's queries on ``provider_calls`` (hand-written SQL): claim the next due
call for one attempt, put one off after a failure, and read what a call needs of its payment.

A claim is a lease: the row's next attempt moves ``lease`` seconds on in the claiming
transaction, which commits before the provider is called. A worker that dies mid-call (a kill
-9) leaves the call due again when the lease runs out, and another attempt repeats it with the
same idempotency key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from payment_service.domain.model import ProviderCall
from servicekit.db import sql

_CLAIM = """
UPDATE provider_calls SET attempts = attempts + 1,
       next_attempt_at = now() + make_interval(secs => %(lease)s)
WHERE call_id = (
    SELECT call_id FROM provider_calls
    WHERE status = 'pending' AND next_attempt_at <= now()
    -- A customer waits for a charge's QR code; a withdrawal or a refund can wait a moment.
    ORDER BY kind <> 'create_charge', next_attempt_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING call_id::text, order_id::text, kind, attempts
"""

# Seconds until the next pending call falls due (NULL: none pending); run after an empty claim,
# so an idle worker sleeps until then rather than polling.
_NEXT_DUE = """
SELECT extract(epoch FROM min(next_attempt_at) - now()) FROM provider_calls
WHERE status = 'pending'
"""

_RETRY_LATER = """
UPDATE provider_calls SET next_attempt_at = now() + make_interval(secs => %(delay)s),
       last_error = %(error)s
WHERE call_id = %(call_id)s::uuid AND status = 'pending'
"""

_TARGET = """
SELECT payment_id::text, amount, currency, status, charge_id::text, deadline_at, created_at,
       expires_at
FROM payments WHERE order_id = %(order_id)s::uuid
"""


@dataclass(frozen=True, slots=True)
class DueCall:
    """A call claimed for one attempt; ``call_id`` is its idempotency key."""

    call_id: str
    order_id: str
    kind: ProviderCall
    attempts: int  # this one included


@dataclass(frozen=True, slots=True)
class CallTarget:
    """What a call needs of its payment, read without a lock (the outcome is recorded under
    one)."""

    payment_id: str
    amount: Decimal
    currency: str
    status: str
    charge_id: str | None
    deadline_at: datetime | None
    created_at: datetime
    expires_at: datetime | None  # the charge's, once its creation is recorded


def claim_due(session: Session, *, lease: float) -> DueCall | None:
    """The next due call nobody else holds, leased for ``lease`` seconds; None if none."""
    row = sql(session, _CLAIM, {"lease": lease}).first()
    if row is None:
        return None
    call_id, order_id, kind, attempts = tuple(row)
    return DueCall(call_id, order_id, ProviderCall(kind), attempts)


def seconds_to_next_due(session: Session) -> float | None:
    """How long until the next pending call is due (<= 0: now, a lease others hold ending), or
    None when no call is pending."""
    row = sql(session, _NEXT_DUE, {}).first()
    return None if row is None or row[0] is None else float(row[0])


def retry_later(session: Session, call_id: str, *, delay: float, error: str) -> None:
    """Put a failed call off by ``delay`` seconds (backoff), keeping why it failed."""
    sql(session, _RETRY_LATER, {"call_id": call_id, "delay": delay, "error": error[:500]})


def target_of(session: Session, order_id: str) -> CallTarget | None:
    """The call's payment as it is now."""
    row = sql(session, _TARGET, {"order_id": order_id}).first()
    return CallTarget(*tuple(row)) if row is not None else None
