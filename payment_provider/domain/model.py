"""A pix charge and its life: pending, then paid (and maybe refunded) or expired. Pure: no I/O.

Each transition appends the webhook it owes the merchant to ``Charge.events``; the application
layer stores those in the same transaction as the new state, so a state change without its
webhook (or the reverse) cannot be committed.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from contracts.webhooks import CHARGE_EXPIRED, CHARGE_PAID, CHARGE_REFUNDED, WebhookType
from payment_provider.domain.brcode import MAX_AMOUNT_EXCLUSIVE, MAX_TXID

CURRENCY = "BRL"  # pix moves reais only
MIN_EXPIRY_SECONDS = 1
MAX_EXPIRY_SECONDS = 7 * 24 * 3600
MAX_AMOUNT = MAX_AMOUNT_EXCLUSIVE - Decimal("0.01")  # the longest amount a BR Code can carry
_AMOUNT = re.compile(r"\d{1,10}(\.\d{1,2})?")


class ChargeStatus(StrEnum):
    """Where a charge is in its life."""

    PENDING = "pending"
    PAID = "paid"
    EXPIRED = "expired"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"  # withdrawn by the merchant before anyone paid it


class ChargeError(Exception):
    """A request the charge's state or data refuses."""


class ChargeNotFound(ChargeError):
    """No charge has that id."""


class ChargeStateConflict(ChargeError):
    """The transition is not allowed from the charge's current status."""


class AmountMismatch(ChargeError):
    """The payer sent an amount other than the charge's."""


class IdempotencyConflict(ChargeError):
    """An idempotency key already used for a different request."""


@dataclass(frozen=True, slots=True)
class ChargeEvent:
    """A transition the merchant is told about by webhook."""

    type: WebhookType
    occurred_at: datetime


@dataclass
class Charge:
    """One pix charge. Transitions are idempotent where repeating them is harmless (paying a paid
    charge, refunding a refunded one) and refused where they would change history."""

    charge_id: uuid.UUID
    status: ChargeStatus
    amount: Decimal
    currency: str
    description: str | None
    reference: str | None
    notification_url: str
    txid: str
    qr_code: str
    qr_code_png: str
    expires_at: datetime
    created_at: datetime
    paid_at: datetime | None = None
    expired_at: datetime | None = None
    refunded_at: datetime | None = None
    cancelled_at: datetime | None = None
    events: list[ChargeEvent] = field(default_factory=list)

    def is_due_to_expire(self, now: datetime) -> bool:
        """True when the charge is still pending but its time is up."""
        return self.status is ChargeStatus.PENDING and now >= self.expires_at

    def expire_if_due(self, now: datetime) -> bool:
        """pending -> expired once ``expires_at`` has passed; True if it changed."""
        if not self.is_due_to_expire(now):
            return False
        self.status = ChargeStatus.EXPIRED
        self.expired_at = now
        self.events.append(ChargeEvent(CHARGE_EXPIRED, now))
        return True

    def pay(self, now: datetime, amount: Decimal | None = None) -> None:
        """pending -> paid; paying a paid charge again changes nothing.

        Expiry is checked first, under the same lock: a late expiry worker never lets an expired
        charge be paid.
        """
        if amount is not None and amount != self.amount:
            raise AmountMismatch(
                f"amount {amount:.2f} does not match the charge ({self.amount:.2f})"
            )
        self.expire_if_due(now)
        if self.status is ChargeStatus.PAID:
            return
        if self.status is not ChargeStatus.PENDING:
            raise ChargeStateConflict(f"the charge is {self.status.value} and cannot be paid")
        self.status = ChargeStatus.PAID
        self.paid_at = now
        self.events.append(ChargeEvent(CHARGE_PAID, now))

    def cancel(self, now: datetime) -> bool:
        """pending -> cancelled: the merchant withdraws a charge nobody paid (no webhook: the
        merchant asked). Cancelling a cancelled or expired charge changes nothing; a paid one
        is refunded instead, never cancelled. True if it changed."""
        self.expire_if_due(now)
        if self.status in (ChargeStatus.CANCELLED, ChargeStatus.EXPIRED):
            return False
        if self.status is not ChargeStatus.PENDING:
            raise ChargeStateConflict(
                f"the charge is {self.status.value}; only a pending charge can be cancelled"
                " (refund a paid one)"
            )
        self.status = ChargeStatus.CANCELLED
        self.cancelled_at = now
        return True

    def refund(self, now: datetime) -> None:
        """paid -> refunded; refunding a refunded charge changes nothing (never a second refund)."""
        self.expire_if_due(now)
        if self.status is ChargeStatus.REFUNDED:
            return
        if self.status is not ChargeStatus.PAID:
            raise ChargeStateConflict(
                f"the charge is {self.status.value}; only a paid charge can be refunded"
            )
        self.status = ChargeStatus.REFUNDED
        self.refunded_at = now
        self.events.append(ChargeEvent(CHARGE_REFUNDED, now))


def txid_for(charge_id: uuid.UUID) -> str:
    """The BR Code transaction id of a charge: letters and digits, at most 25."""
    return charge_id.hex[:MAX_TXID]


def parse_amount(value: object) -> Decimal:
    """An amount from a decimal string (or a JSON number): > 0, at most two decimal places."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError('amount must be a decimal string such as "19.90"')
    text = str(value).strip()
    if not _AMOUNT.fullmatch(text):
        raise ValueError(
            f'amount must be a positive decimal with at most two decimal places, such as "19.90",'
            f" and at most {MAX_AMOUNT}"
        )
    try:
        amount = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        raise ValueError("amount is not a decimal number") from None
    if amount <= 0:
        raise ValueError("amount must be greater than 0")
    return amount


def webhook_retry_delay(attempts: int, *, initial: float, maximum: float, jitter: float) -> float:
    """Seconds before the next attempt after ``attempts`` failures.

    Doubling from ``initial``, capped at ``maximum``, then "equal jitter": a random point in the
    upper half (``jitter`` in [0, 1) picks it), so receivers that failed together (a deploy, an
    outage) are not all retried in the same instant, and no retry comes sooner than half its step.
    """
    step = min(initial * 2.0 ** min(max(attempts - 1, 0), 62), maximum)
    return step / 2 + jitter * step / 2
