"""The events payment_service consumes: one handler each, ``on_<event>(event, uow)``.

Each runs in the inbox consumer's transaction; the unit of work publishes what the payment
recorded. Every handler first locks the order's payment (aggregate lock, then row), so whichever
event of an order comes first decides and the other sees its outcome (domain/model.py):

- stock.reserved, no payment  -> card: authorize or decline, once; pix: a PENDING payment that
                                owes the provider a charge (created after the commit by
                                application/charging.py, which then emits payment.awaiting);
- stock.reserved, a payment   -> nothing (a redelivery, or a VOIDED tombstone: never charge);
- order ended, no payment     -> a VOIDED tombstone, so a late stock.reserved charges nothing;
- order ended, AUTHORIZED     -> REFUNDED (pix: REFUNDING, the refund asked of the provider);
- order ended, pix not paid   -> VOIDED, the charge withdrawn at the provider;
- order ended, anything else  -> nothing (no money is held).
"""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.events import OrderCancelled, OrderRejected, StockReserved
from contracts.money import to_amount
from payment_service.application.ports import PaymentUnitOfWork
from payment_service.domain.model import PIX_CURRENCY, Charge, Method, Payment, Refuse
from servicekit.logging import get_logger

log = get_logger(__name__)


def on_stock_reserved(event: StockReserved, uow: PaymentUnitOfWork) -> None:
    """Authorize the order's total once; never charge an order whose payment was voided or whose
    saga deadline has passed."""
    existing = uow.payments.get_for_update(event.order_id)
    if existing is not None:
        log.info(
            "payment_already_decided",
            order_id=event.order_id,
            status=existing.status.value,
            event_id=uow.cause.causation_id,
        )
        return
    try:
        method = Method(event.payment_method)
    except ValueError:
        method = None
    charge = Charge(
        order_id=event.order_id,
        customer_id=event.customer_id,
        amount=to_amount(event.total),
        currency=event.currency.upper(),
        deadline_at=event.deadline_at,
        method=method or Method.CARD,
    )
    now = datetime.now(UTC)
    if method is None:
        payment = Payment.authorize(charge, method=Refuse("unknown payment method"), now=now)
    elif method is Method.PIX and charge.currency != PIX_CURRENCY:
        payment = Payment.authorize(charge, method=Refuse("pix takes reais (BRL) only"), now=now)
        payment.method = Method.PIX
    elif method is Method.PIX:
        payment = Payment.open_pix(charge, now=now)
    else:
        payment = Payment.authorize(charge, method=uow.methods[method], now=now)
    uow.payments.add(payment)
    log.info(
        "payment_decided",
        order_id=event.order_id,
        status=payment.status.value,
        reason=payment.reason,
    )


def on_order_cancelled(event: OrderCancelled, uow: PaymentUnitOfWork) -> None:
    """Refund an authorized payment, or void the one not yet made."""
    _order_ended(event, uow)


def on_order_rejected(event: OrderRejected, uow: PaymentUnitOfWork) -> None:
    """Void the payment not yet made (or refund one, should stock.reserved have come first)."""
    _order_ended(event, uow)


def _order_ended(event: OrderCancelled | OrderRejected, uow: PaymentUnitOfWork) -> None:
    existing = uow.payments.get_for_update(event.order_id)
    previous = existing.status.value if existing is not None else None
    if existing is None:
        # The order service may add the currency to its events one day (payloads only gain
        # optional fields); until then the tombstone says "no currency": it moved no money.
        currency = (event.model_extra or {}).get("currency")
        uow.payments.add(
            Payment.void(
                order_id=event.order_id,
                customer_id=event.customer_id,
                reason=event.reason,
                currency=str(currency) if currency else None,
            )
        )
        action = "void"
    elif existing.order_ended(event.reason):
        uow.payments.save(existing)
        action = existing.status.value.lower()
    else:
        action = "none"
    log.info(
        "payment_order_ended",
        order_id=event.order_id,
        event_type=event.event_type,
        action=action,
        previous_status=previous,
    )
