"""Payment use cases: one function per consumed event, and the caller's payments.

stock.reserved (from stock_reservation.events) and order.cancelled / order.rejected (from
order.events) arrive on different topics in any order, and may be delivered twice. Every handler
takes the payment aggregate's lock and then the order's row (``FOR UPDATE``), so whichever comes
first decides and the other sees its outcome:

- stock.reserved, no row      -> authorize or decline (once);
- stock.reserved, row exists  -> nothing (a redelivery, or a VOIDED tombstone: never charge);
- cancelled, AUTHORIZED       -> REFUNDED;
- cancelled, no row           -> a VOIDED tombstone, so a late stock.reserved charges nothing;
- cancelled, anything else    -> nothing (no money is held).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from contracts.events import (
    CATALOG,
    OrderCancelled,
    OrderRejected,
    PaymentAuthorized,
    PaymentDeclined,
    PaymentRefunded,
    PaymentVoided,
    StockReserved,
)
from contracts.money import money_text
from contracts.money import to_amount as money
from payment_service.adapters import repository
from payment_service.adapters.provider import PaymentProvider
from payment_service.domain.model import (
    DEADLINE_PASSED,
    NO_CURRENCY,
    PaymentStatus,
    action_on_order_ended,
)
from servicekit.logging import get_logger
from servicekit.messaging import add_event, lock_aggregate
from servicekit.messaging.envelope import Envelope

log = get_logger(__name__)

AGGREGATE = "payment"  # topic payment.events, key order_id


def on_stock_reserved(
    session: Session, envelope: Envelope, *, provider: PaymentProvider, now: datetime | None = None
) -> None:
    """Authorize the order's total once; never charge an order whose payment was voided or whose
    saga deadline has passed."""
    event = CATALOG.parse(envelope)
    assert isinstance(event, StockReserved)
    lock_aggregate(session, AGGREGATE, event.order_id)
    existing = repository.payment_for_update(session, event.order_id)
    if existing is not None:
        # VOIDED: the cancellation came first. Anything else: this order was already decided.
        log.info(
            "payment_already_decided",
            order_id=event.order_id,
            status=existing.status,
            event_id=str(envelope.event_id),
        )
        return
    amount = money(event.total)
    currency = event.currency.upper()
    reason: str | None
    if (now or datetime.now(UTC)) > _aware(event.deadline_at):
        ok, reason = False, DEADLINE_PASSED
    else:
        ok, reason = provider.authorize(amount, currency)
    status = PaymentStatus.AUTHORIZED if ok else PaymentStatus.DECLINED
    payment_id = str(uuid.uuid4())
    repository.insert_payment(
        session,
        payment_id=payment_id,
        order_id=event.order_id,
        customer_id=event.customer_id,
        amount=amount,
        currency=currency,
        status=status,
        reason=reason,
    )
    common = {
        "order_id": event.order_id,
        "payment_id": payment_id,
        "customer_id": event.customer_id,
        "amount": money_text(amount),
        "currency": currency,
    }
    if ok:
        _emit(session, envelope, event.order_id, "payment.authorized", PaymentAuthorized(**common))
    else:
        _emit(
            session,
            envelope,
            event.order_id,
            "payment.declined",
            PaymentDeclined(**common, reason=reason or "declined"),
        )
    log.info("payment_decided", order_id=event.order_id, status=status, reason=reason)


def on_order_ended(session: Session, envelope: Envelope) -> None:
    """order.cancelled / order.rejected: refund an authorized payment, or void one not yet made."""
    event = CATALOG.parse(envelope)
    assert isinstance(event, OrderCancelled | OrderRejected)
    lock_aggregate(session, AGGREGATE, event.order_id)
    existing = repository.payment_for_update(session, event.order_id)
    action = action_on_order_ended(existing.status if existing is not None else None)
    if action == "refund":
        assert existing is not None
        repository.set_payment_status(
            session, existing.payment_id, status=PaymentStatus.REFUNDED, reason=event.reason
        )
        _emit(
            session,
            envelope,
            event.order_id,
            "payment.refunded",
            PaymentRefunded(
                order_id=event.order_id,
                payment_id=str(existing.payment_id),
                customer_id=str(existing.customer_id),
                amount=money_text(existing.amount),
                currency=existing.currency,
                reason=event.reason,
            ),
        )
    elif action == "void":
        payment_id = str(uuid.uuid4())
        # The order service may add the currency to its events one day (payloads only gain
        # optional fields); until then the tombstone says "no currency": it moved no money.
        currency = str((event.model_extra or {}).get("currency") or NO_CURRENCY).upper()
        repository.insert_payment(
            session,
            payment_id=payment_id,
            order_id=event.order_id,
            customer_id=event.customer_id,
            amount=Decimal("0.00"),
            currency=currency,
            status=PaymentStatus.VOIDED,
            reason=event.reason,
        )
        _emit(
            session,
            envelope,
            event.order_id,
            "payment.voided",
            PaymentVoided(
                order_id=event.order_id,
                payment_id=payment_id,
                customer_id=event.customer_id,
                reason=event.reason,
            ),
        )
    log.info(
        "payment_order_ended",
        order_id=event.order_id,
        event_type=envelope.event_type,
        action=action,
        previous_status=existing.status if existing is not None else None,
    )


def list_payments(
    session: Session, *, customer_id: str | None, order_id: str | None, limit: int
) -> list[RowMapping]:
    """Payments newest first; only ``customer_id``'s unless None (admin)."""
    return repository.list_payments(
        session, customer_id=customer_id, order_id=order_id, limit=limit
    )


def _emit(
    session: Session,
    envelope: Envelope,
    order_id: str,
    event_type: str,
    payload: PaymentAuthorized | PaymentDeclined | PaymentRefunded | PaymentVoided,
) -> None:
    add_event(
        session,
        aggregate_type=AGGREGATE,
        aggregate_id=order_id,
        event_type=event_type,
        payload=payload,
        registry=CATALOG,
        correlation_id=envelope.correlation_id,
        causation_id=str(envelope.event_id),
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
