"""The events product_service consumes: one handler each, ``on_<event>(event, uow)``.

Each runs in the inbox consumer's transaction; the unit of work publishes what the reservation
recorded. An order reserves once: order.created announced again finds its reservation and does
nothing. A reservation is settled once: a confirmation commits it, a cancellation or rejection
releases it (even one made after the order was cancelled upstream), and anything after that, or
for an order that never held stock, changes nothing. An order cancelled or rejected before its
order.created arrived (dead-lettered here, while its saga timed out) is voided: when the
order.created comes after all, replayed from the dead letter topic, it reserves nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from contracts.events import OrderCancelled, OrderConfirmed, OrderCreated, OrderRejected
from product_service.application.ports import ProductUnitOfWork
from product_service.domain.reservation import Reservation, ReservationStatus, requested_quantities
from servicekit.logging import get_logger

log = get_logger(__name__)


def on_order_created(event: OrderCreated, uow: ProductUnitOfWork) -> None:
    """Reserve every line of a new order, or none, and say which (stock.reserved / _failed)."""
    order_id = str(uuid.UUID(event.order_id))  # not a UUID: poison, retried then dead-lettered
    requested = requested_quantities(
        (_canonical_id(line.product_id), line.quantity) for line in event.items
    )
    stock = uow.reservations.stock_to_reserve(
        event.order_id, [product_id for product_id in requested if _is_uuid(product_id)]
    )
    if stock is None:
        # order.created emitted twice, or replayed after its order ended (VOIDED)
        log.info("reservation_exists", order_id=order_id)
        return
    reservation = Reservation.reserve(
        order_id=event.order_id,
        customer_id=event.customer_id,
        currency=event.currency,
        deadline_at=event.deadline_at,
        requested=requested,
        stock={level.product_id: level for level in stock},
        payment_method=event.payment_method,
    )
    uow.reservations.add(reservation)
    if reservation.held:
        log.info(
            "stock_reserved",
            order_id=order_id,
            lines=len(reservation.lines),
            total=str(reservation.total),
        )
    else:
        log.info("stock_reservation_failed", order_id=order_id, reason=reservation.failure_reason)


def on_order_confirmed(event: OrderConfirmed, uow: ProductUnitOfWork) -> None:
    """The order is paid for: its reserved units become sold (stock.committed)."""
    if _valid_order_id(event.order_id) and not _settle(event, uow, Reservation.commit):
        log.info("reservation_not_held", order_id=event.order_id, event_type=event.event_type)


def on_order_cancelled(event: OrderCancelled, uow: ProductUnitOfWork) -> None:
    """Give the order's reserved units back (stock.released); nothing if none are held, and
    the order is voided if it has no reservation yet."""
    _end(event, f"order cancelled: {event.reason}", uow)


def on_order_rejected(event: OrderRejected, uow: ProductUnitOfWork) -> None:
    """Give the order's reserved units back (stock.released); nothing if none are held, and
    the order is voided if it has no reservation yet."""
    _end(event, f"order rejected: {event.reason}", uow)


def _end(event: OrderCancelled | OrderRejected, reason: str, uow: ProductUnitOfWork) -> None:
    """The order ended without a sale: release what it holds, or void it when nothing is known
    of it yet (under the order's lock, which order.created takes to reserve)."""
    if not _valid_order_id(event.order_id):
        return
    if not _settle(event, uow, lambda held: held.release(reason)):
        uow.reservations.add(
            Reservation.void(order_id=event.order_id, customer_id=event.customer_id, reason=reason)
        )
        log.info("reservation_voided", order_id=event.order_id, event_type=event.event_type)


def _settle(
    event: OrderConfirmed | OrderCancelled | OrderRejected,
    uow: ProductUnitOfWork,
    settle: Callable[[Reservation], bool],
) -> bool:
    """Lock and load the order's reservation, settle it if it still holds stock, save.
    False when the order has no reservation at all."""
    order_id = event.order_id
    reservation = uow.reservations.get_for_update(order_id)
    if reservation is None:
        return False
    if not settle(reservation):
        status = reservation.status.value
        log.info(
            "reservation_not_held", order_id=order_id, event_type=event.event_type, status=status
        )
        return True
    uow.reservations.save(reservation)
    committed = reservation.status == ReservationStatus.COMMITTED
    log.info(
        "stock_committed" if committed else "stock_released",
        order_id=order_id,
        lines=len(reservation.lines),
    )
    return True


def _valid_order_id(order_id: str) -> bool:
    """True for a UUID; anything else is logged: no reservation can be kept under it."""
    if _is_uuid(order_id):
        return True
    log.warning("reservation_unknown_order_id", order_id=order_id)
    return False


def _canonical_id(product_id: str) -> str:
    """The database's spelling of a product id; anything else is kept (and found unknown)."""
    try:
        return str(uuid.UUID(product_id))
    except ValueError:
        return product_id


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
