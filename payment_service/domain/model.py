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

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from contracts.events import PaymentAuthorized, PaymentDeclined, PaymentRefunded, PaymentVoided
from contracts.money import money_text
from servicekit.messaging.envelope import Event


class PaymentStatus(StrEnum):
    """Where a payment ends up; one per order, whatever the order of events."""

    AUTHORIZED = "AUTHORIZED"
    DECLINED = "DECLINED"
    REFUNDED = "REFUNDED"
    # A tombstone: the order ended before any charge, so none will ever be made.
    VOIDED = "VOIDED"


class Method(StrEnum):
    """The ways an order can be paid."""

    CARD = "card"  # the simulated provider's instant authorization


AGGREGATE = "payment"  # what a payment's events are about: topic payment.events, key order_id
DEADLINE_PASSED = "saga deadline passed"
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


def net_charge(status: str, amount: Decimal) -> Decimal:
    """What a payment in this status costs the customer: only an authorized one holds money."""
    return amount if status == PaymentStatus.AUTHORIZED else ZERO


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
    events: list[Event] = field(default_factory=list)

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
            payment_id=str(uuid.uuid4()),
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
    def void(
        cls, *, order_id: str, customer_id: str, reason: str, currency: str | None = None
    ) -> Payment:
        """The order ended before any payment: a VOIDED tombstone of nothing, so that a late
        stock.reserved finds it and charges nothing."""
        payment = cls(
            payment_id=str(uuid.uuid4()),
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
        """The order was cancelled or rejected: refund an authorization (once). Anything else
        holds no money and stays as it is. True if this refunded."""
        if self.status != PaymentStatus.AUTHORIZED:
            return False
        self.status, self.reason = PaymentStatus.REFUNDED, reason
        self.events.append(PaymentRefunded(**self._money(), reason=reason))
        return True

    def _money(self) -> dict[str, str]:
        """The fields every event about moving this payment's money carries."""
        return {
            "order_id": self.order_id,
            "payment_id": self.payment_id,
            "customer_id": self.customer_id,
            "amount": money_text(self.amount),
            "currency": self.currency,
        }


def _aware(moment: datetime) -> datetime:
    """A deadline without a zone is UTC, as every service writes it."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
