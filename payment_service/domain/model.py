"""The payment of an order, and what each step of the saga does to it.

One payment per order, whichever event reaches this service first: ``stock.reserved`` (from
stock_reservation.events) and ``order.cancelled`` / ``order.rejected`` (from order.events) travel
on different topics, in any order, and may be delivered twice. The rules:

- the order's first stock.reserved decides the payment: declined once the saga deadline has
  passed (the payment method is not even asked), otherwise as the method answers;
- an order that ends before any payment leaves a VOIDED tombstone, so a late stock.reserved
  finds a payment and charges nothing;
- an order that ends after an authorization is refunded, once;
- anything else changes nothing: no money is held.

What a payment decides is recorded as event objects of the catalog (``contracts.events``) in
``events``; the unit of work publishes them with the change. No framework, database or broker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from contracts.events import (
    PaymentAuthorized,
    PaymentAwaiting,
    PaymentDeclined,
    PaymentRefunded,
    PaymentVoided,
)
from contracts.money import money_text
from servicekit.ids import new_id
from servicekit.messaging.envelope import Event


class PaymentStatus(StrEnum):
    """Where a payment ends up; one per order, whatever the order of events."""

    # pix: the charge is being created at the provider (the intent is recorded, the call not
    # made or its answer not recorded yet), then waits for the customer to pay its QR code.
    PENDING = "PENDING"
    AWAITING_PAYMENT = "AWAITING_PAYMENT"
    AUTHORIZED = "AUTHORIZED"
    DECLINED = "DECLINED"
    # pix: money was received for an order that ended; the provider is giving it back.
    REFUNDING = "REFUNDING"
    REFUNDED = "REFUNDED"
    # A tombstone: the order ended before any charge, so none will ever be made.
    VOIDED = "VOIDED"


class Method(StrEnum):
    """The ways an order can be paid."""

    CARD = "card"  # the simulated provider's instant authorization
    PIX = "pix"  # a QR code paid later through the payment provider (application/charging.py)


AGGREGATE = "payment"  # what a payment's events are about: topic payment.events, key order_id
DEADLINE_PASSED = "saga deadline passed"
EXPIRED = "expired"
PIX_CURRENCY = "BRL"  # pix moves reais only  # a pix charge nobody paid before its expiry
# ISO 4217 "no currency": a voided tombstone moved no money.
NO_CURRENCY = "XXX"
ZERO = Decimal("0.00")


@dataclass(frozen=True, slots=True)
class Charge:
    """What an order asks to be paid once its stock is held (``stock.reserved``)."""

    order_id: str
    customer_id: str
    amount: Decimal
    currency: str
    deadline_at: datetime
    method: Method = Method.CARD


@dataclass(frozen=True, slots=True)
class Authorized:
    """The payment method holds the money."""


@dataclass(frozen=True, slots=True)
class Declined:
    """The payment method said no, and why."""

    reason: str


# A method's answer. One that completes later, through an external provider, adds its own kind
# here (the payment then waits for the provider's word instead of ending at once).
Authorization = Authorized | Declined


class PaymentMethod(Protocol):
    """One way of paying: answers a charge (adapters/provider.py has the simulated one)."""

    def authorize(self, charge: Charge) -> Authorization:
        """Authorized, or Declined with the reason."""
        ...


class ProviderCall(StrEnum):
    """A call to the payment provider a payment owes: recorded in the transaction that decided
    it, made after the commit with an idempotency key, retried until it succeeds."""

    CREATE_CHARGE = "create_charge"
    CANCEL_CHARGE = "cancel_charge"
    REFUND_CHARGE = "refund_charge"


@dataclass(frozen=True, slots=True)
class PixCharge:
    """A charge at the payment provider: what the customer pays (QR code) and until when."""

    charge_id: str
    qr_code: str  # the pix "copia e cola" text (EMV BR Code)
    qr_code_png: str  # data:image/png;base64,... of a QR code of qr_code
    expires_at: datetime


def net_charge(status: str, amount: Decimal) -> Decimal:
    """What a payment in this status costs the customer: an authorized one holds money, and so
    does one whose refund the provider has not confirmed yet."""
    held = (PaymentStatus.AUTHORIZED, PaymentStatus.REFUNDING)
    return amount if status in held else ZERO


@dataclass
class Payment:
    """An order's payment, and the events its changes recorded."""

    payment_id: str
    order_id: str
    customer_id: str
    amount: Decimal
    currency: str
    status: PaymentStatus
    reason: str | None = None
    method: Method = Method.CARD
    pix: PixCharge | None = None  # the provider's charge, once its creation is recorded
    deadline_at: datetime | None = None  # pix: the saga deadline, which the charge follows
    events: list[Event] = field(default_factory=list)
    # Calls to the provider this change owes, recorded with it and made after the commit.
    calls: list[ProviderCall] = field(default_factory=list)

    @classmethod
    def authorize(cls, charge: Charge, *, method: PaymentMethod, now: datetime) -> Payment:
        """The payment of an order's first stock.reserved: declined past the saga deadline,
        otherwise authorized or declined as ``method`` answers."""
        answer: Authorization
        if now > _aware(charge.deadline_at):
            answer = Declined(DEADLINE_PASSED)  # too late to charge: the method is not asked
        else:
            answer = method.authorize(charge)
        declined = answer.reason if isinstance(answer, Declined) else None
        payment = cls(
            payment_id=str(new_id()),
            order_id=charge.order_id,
            customer_id=charge.customer_id,
            amount=charge.amount,
            currency=charge.currency,
            status=PaymentStatus.AUTHORIZED if declined is None else PaymentStatus.DECLINED,
            reason=declined,
        )
        payment.events.append(
            PaymentAuthorized(**payment._money())
            if declined is None
            else PaymentDeclined(**payment._money(), reason=declined)
        )
        return payment

    @classmethod
    def open_pix(cls, charge: Charge, *, now: datetime) -> Payment:
        """A pix payment: PENDING, owing the provider a charge (created after the commit).
        Declined at once past the saga deadline, like a card."""
        if now > _aware(charge.deadline_at):
            late = cls.authorize(charge, method=_TOO_LATE, now=now)
            late.method = Method.PIX
            return late
        payment = cls(
            payment_id=str(new_id()),
            order_id=charge.order_id,
            customer_id=charge.customer_id,
            amount=charge.amount,
            currency=charge.currency,
            status=PaymentStatus.PENDING,
            method=Method.PIX,
            deadline_at=_aware(charge.deadline_at),
        )
        payment.calls.append(ProviderCall.CREATE_CHARGE)
        return payment

    @classmethod
    def void(
        cls, *, order_id: str, customer_id: str, reason: str, currency: str | None = None
    ) -> Payment:
        """The order ended before any payment: a VOIDED tombstone of nothing, so that a late
        stock.reserved finds it and charges nothing."""
        payment = cls(
            payment_id=str(new_id()),
            order_id=order_id,
            customer_id=customer_id,
            amount=ZERO,
            currency=(currency or NO_CURRENCY).upper(),
            status=PaymentStatus.VOIDED,
            reason=reason,
        )
        payment.events.append(
            PaymentVoided(
                order_id=order_id,
                payment_id=payment.payment_id,
                customer_id=customer_id,
                reason=reason,
            )
        )
        return payment

    @property
    def net_charge(self) -> Decimal:
        """What this payment costs the customer now."""
        return net_charge(self.status, self.amount)

    def order_ended(self, reason: str) -> bool:
        """The order was cancelled or rejected: refund an authorization (once; a pix one
        through the provider), withdraw a pix charge nobody paid yet. Anything else holds no
        money and stays as it is. True if this changed the payment."""
        if self.status is PaymentStatus.AUTHORIZED and self.method is Method.PIX:
            self.status, self.reason = PaymentStatus.REFUNDING, reason
            self.calls.append(ProviderCall.REFUND_CHARGE)
            return True
        if self.status is PaymentStatus.AUTHORIZED:
            self.status, self.reason = PaymentStatus.REFUNDED, reason
            self.events.append(PaymentRefunded(**self._money(), reason=reason))
            return True
        if self.status in (PaymentStatus.PENDING, PaymentStatus.AWAITING_PAYMENT):
            # The charge may exist at the provider (or be on its way there): withdraw it.
            self.status, self.reason = PaymentStatus.VOIDED, reason
            self.calls.append(ProviderCall.CANCEL_CHARGE)
            self.events.append(
                PaymentVoided(
                    order_id=self.order_id,
                    payment_id=self.payment_id,
                    customer_id=self.customer_id,
                    reason=reason,
                )
            )
            return True
        return False

    # -- pix: what the provider answers or tells by webhook ----------------------------------

    def charge_created(self, charge: PixCharge) -> None:
        """The provider made the charge: the customer may pay it now (payment.awaiting). Made
        for an order that ended meanwhile, it is withdrawn at once."""
        if self.pix is None:
            self.pix = charge
        if self.status is PaymentStatus.PENDING:
            self.status = PaymentStatus.AWAITING_PAYMENT
            self.events.append(
                PaymentAwaiting(
                    **self._money(),
                    charge_id=charge.charge_id,
                    qr_code=charge.qr_code,
                    qr_code_png=charge.qr_code_png,
                    expires_at=charge.expires_at,
                )
            )
        elif self.status is PaymentStatus.VOIDED:
            self.calls.append(ProviderCall.CANCEL_CHARGE)

    def give_up(self, reason: str) -> None:
        """No charge will be made (the provider refused it, or the deadline passed first)."""
        if self.status is PaymentStatus.PENDING:
            self._decline(reason)

    def charge_paid(self) -> None:
        """The customer paid: authorized. Paid for an order that ended (or a payment that was
        declined), the money is given back through the provider, never kept."""
        if self.status in (PaymentStatus.PENDING, PaymentStatus.AWAITING_PAYMENT):
            self.status = PaymentStatus.AUTHORIZED
            self.events.append(PaymentAuthorized(**self._money()))
        elif self.status in (PaymentStatus.VOIDED, PaymentStatus.DECLINED):
            self.status = PaymentStatus.REFUNDING
            self.reason = f"paid after the order ended ({self.reason})"
            self.calls.append(ProviderCall.REFUND_CHARGE)

    def charge_expired(self) -> None:
        """Nobody paid in time: declined, which cancels the order."""
        if self.status in (PaymentStatus.PENDING, PaymentStatus.AWAITING_PAYMENT):
            self._decline(EXPIRED)

    def charge_refunded(self) -> None:
        """The provider gave the money back (payment.refunded), once."""
        if self.status in (PaymentStatus.REFUNDING, PaymentStatus.AUTHORIZED):
            self.status = PaymentStatus.REFUNDED
            self.events.append(PaymentRefunded(**self._money(), reason=self.reason or "refunded"))

    def _decline(self, reason: str) -> None:
        self.status, self.reason = PaymentStatus.DECLINED, reason
        self.events.append(PaymentDeclined(**self._money(), reason=reason))

    def _money(self) -> dict[str, str]:
        """The fields every event about moving this payment's money carries."""
        return {
            "order_id": self.order_id,
            "payment_id": self.payment_id,
            "customer_id": self.customer_id,
            "amount": money_text(self.amount),
            "currency": self.currency,
        }


@dataclass(frozen=True, slots=True)
class Refuse:
    """A method that declines every charge, and says why (an order no method can pay)."""

    reason: str

    def authorize(self, charge: Charge) -> Authorization:
        """Declined."""
        return Declined(self.reason)


_TOO_LATE = Refuse(DEADLINE_PASSED)  # never asked: authorize declines past the deadline itself


def _aware(moment: datetime) -> datetime:
    """A deadline without a zone is UTC, as every service writes it."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
