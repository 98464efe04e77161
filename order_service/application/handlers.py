"""The events order_service consumes: one handler each, ``on_<event>(event, uow)``.

Each runs in the inbox consumer's transaction; the unit of work publishes what the order
recorded. A step of the consumed event goes on the order's timeline first, then those of the
events it caused. An event for an order this service never wrote is logged and dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from contracts.events import (
    CategoryCreated,
    CategoryDeleted,
    CategoryUpdated,
    PaymentAuthorized,
    PaymentAwaiting,
    PaymentDeclined,
    PaymentRefunded,
    PaymentVoided,
    ProductArchived,
    ProductCreated,
    ProductUpdated,
    StockCommitted,
    StockReleased,
    StockReservationFailed,
    StockReserved,
)
from order_service.application.metrics import saga_finished
from order_service.application.ports import OrderUnitOfWork
from order_service.domain.model import Line, Order
from servicekit.logging import get_logger
from servicekit.messaging.envelope import Event

log = get_logger(__name__)


def _change(event: Event, uow: OrderUnitOfWork, change: Callable[[Order], object]) -> None:
    """Lock and load the event's order, record the step, apply the change, save."""
    order = uow.orders.get_for_update(event.aggregate_id)
    if order is None:
        log.warning("order_unknown", order_id=event.aggregate_id, event_type=event.event_type)
        return
    uow.timeline.record(order.order_id, event.event_type, uow.cause.causation_id)
    was_finished = order.finished
    change(order)
    uow.orders.save(order)
    if order.finished and not was_finished:
        saga_finished(order)


def on_stock_reserved(event: StockReserved, uow: OrderUnitOfWork) -> None:
    """Every line is held, at these prices."""
    priced = [
        Line(item.product_id, item.quantity, Decimal(item.unit_price))
        for item in sorted(event.items, key=lambda item: item.product_id)
    ]
    _change(event, uow, lambda order: order.stock_reserved(priced))


def on_stock_reservation_failed(event: StockReservationFailed, uow: OrderUnitOfWork) -> None:
    """Nothing could be reserved: the order is rejected."""
    _change(event, uow, lambda order: order.stock_reservation_failed(event.reason))


def on_stock_released(event: StockReleased, uow: OrderUnitOfWork) -> None:
    """The reservation was given back (compensation)."""
    _change(event, uow, Order.stock_released)


def on_stock_committed(event: StockCommitted, uow: OrderUnitOfWork) -> None:
    """The reserved stock is sold."""
    _change(event, uow, Order.stock_committed)


def on_payment_authorized(event: PaymentAuthorized, uow: OrderUnitOfWork) -> None:
    """The money is held: confirm once the stock is too."""
    _change(event, uow, Order.payment_authorized)


def on_payment_awaiting(event: PaymentAwaiting, uow: OrderUnitOfWork) -> None:
    """A pix charge waits for the customer (a timeline step; the order stays as it is)."""
    _change(event, uow, Order.payment_awaiting)


def on_payment_declined(event: PaymentDeclined, uow: OrderUnitOfWork) -> None:
    """No money: cancel, which releases the stock."""
    _change(event, uow, lambda order: order.payment_declined(event.reason))


def on_payment_refunded(event: PaymentRefunded, uow: OrderUnitOfWork) -> None:
    """An authorization was given back."""
    _change(event, uow, Order.payment_refunded)


def on_payment_voided(event: PaymentVoided, uow: OrderUnitOfWork) -> None:
    """Cancelled before any charge."""
    _change(event, uow, Order.payment_voided)


def on_product_created(event: ProductCreated, uow: OrderUnitOfWork) -> None:
    """A new product in the catalog read model."""
    uow.catalog.remember(event)


def on_product_updated(event: ProductUpdated, uow: OrderUnitOfWork) -> None:
    """A product's current name, price and category in the catalog read model."""
    uow.catalog.remember(event)


def on_product_archived(event: ProductArchived, uow: OrderUnitOfWork) -> None:
    """An archived product can no longer be ordered; orders that have it keep it."""
    if not uow.catalog.archive(event.product_id, event.archived_at):
        log.warning("archived_product_unknown", product_id=event.product_id)


def on_category_created(event: CategoryCreated, uow: OrderUnitOfWork) -> None:
    """A new category in the read model."""
    uow.categories.remember(event)


def on_category_updated(event: CategoryUpdated, uow: OrderUnitOfWork) -> None:
    """A category's current name and description in the read model."""
    uow.categories.remember(event)


def on_category_deleted(event: CategoryDeleted, uow: OrderUnitOfWork) -> None:
    """A deleted category leaves the read model."""
    uow.categories.forget(event.category_id)
