"""What customers, staff and the clock ask of orders: one function per command,
``(command, uow)``.

A command runs in a unit of work that owns its transaction (servicekit.messaging.unit_of_work):
whatever the order records is published when it commits.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from contracts.events import Address
from order_service.application.metrics import FULFILMENT_STEPS, saga_finished
from order_service.application.ports import DuplicateIdempotencyKey, OrderUnitOfWork
from order_service.domain.errors import (
    ArchivedProducts,
    IdempotencyConflict,
    StaffOnly,
    UnknownProducts,
)
from order_service.domain.model import Order
from order_service.domain.statuses import FulfilmentStatus, OrderStatus, PaymentMethod
from servicekit.ids import new_id
from servicekit.logging import get_logger
from servicekit.tokens import Principal

log = get_logger(__name__)


@dataclass(frozen=True)
class PlaceOrder:
    """A customer places an order; an Idempotency-Key makes retries safe."""

    customer_id: str
    items: list[tuple[str, int]]
    delivery_address: Address | None
    idempotency_key: str | None
    saga_timeout: timedelta
    payment_method: PaymentMethod = PaymentMethod.CARD

    @property
    def fingerprint(self) -> str:
        """Identifies the request, to tell a retry with the same key from a reuse of it."""
        request: dict[str, object] = {
            "items": sorted(self.items),
            "delivery": self.delivery_address.model_dump() if self.delivery_address else None,
        }
        if self.payment_method.value != PaymentMethod.CARD.value:
            # Card, the default, is left out: keys stored before payment methods existed
            # still recognise their retries.
            request["payment_method"] = self.payment_method.value
        return hashlib.sha256(orjson.dumps(request, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True)
class Placed:
    """The order a PlaceOrder made, or had made before (``created`` False: an idempotent
    retry, answered 200 instead of 202)."""

    order_id: str
    status: str
    created: bool


@dataclass(frozen=True)
class AdvanceFulfilment:
    """Staff (or an admin) take a confirmed order one step further towards its customer."""

    order_id: str
    status: FulfilmentStatus
    by: Principal


@dataclass(frozen=True)
class CancelOrder:
    """A customer (or an admin) cancels an order, allowed until it is confirmed."""

    order_id: str


def place_order(command: PlaceOrder, uow: OrderUnitOfWork) -> Placed:
    """Write a PENDING order; order.created goes out with it. UnknownProducts for products the
    catalog read model does not know (yet: see OrderService.place)."""
    key = command.idempotency_key
    if key is not None:
        existing = uow.orders.by_idempotency_key(command.customer_id, key)
        if existing is not None:
            return _replayed(existing.order_id, existing.status, existing.fingerprint, command)
    known = uow.catalog.products(product_id for product_id, _ in command.items)
    missing = sorted({product_id for product_id, _ in command.items} - set(known))
    if missing:
        raise UnknownProducts(missing)
    archived = sorted(product_id for product_id, _ in command.items if known[product_id].archived)
    if archived:
        raise ArchivedProducts(archived)
    order = Order.place(
        order_id=str(new_id()),
        customer_id=command.customer_id,
        items=command.items,
        prices={pid: (product.price, product.currency) for pid, product in known.items()},
        deadline_at=datetime.now(UTC) + command.saga_timeout,
        delivery_address=command.delivery_address,
        payment_method=command.payment_method,
        correlation_id=uow.cause.correlation_id,
    )
    try:
        uow.orders.add(order, idempotency_key=key, fingerprint=command.fingerprint)
    except DuplicateIdempotencyKey:
        # The same key raced in from a concurrent retry: answer with the order it made.
        existing = uow.orders.by_idempotency_key(command.customer_id, key or "")
        if existing is None:
            raise
        order.events.clear()
        return _replayed(existing.order_id, existing.status, existing.fingerprint, command)
    log.info("order_created", order_id=order.order_id, lines=len(order.lines))
    return Placed(order.order_id, OrderStatus.PENDING.value, created=True)


def _replayed(order_id: str, status: str, fingerprint: str, command: PlaceOrder) -> Placed:
    if fingerprint != command.fingerprint:
        raise IdempotencyConflict("Idempotency-Key was already used for a different order")
    return Placed(order_id, status, created=False)


def cancel_order(command: CancelOrder, uow: OrderUnitOfWork) -> Order | None:
    """Cancel an open order (CannotCancel once confirmed or finished); None if unknown."""
    order = uow.orders.get_for_update(command.order_id)
    if order is None:
        return None
    order.cancel()
    uow.orders.save(order)
    saga_finished(order)
    return order


def time_out(order_id: str, uow: OrderUnitOfWork) -> bool:
    """Cancel one saga that missed its deadline; False if it finished meanwhile."""
    order = uow.orders.get_for_update(order_id)
    if order is None or not order.time_out():
        return False
    uow.orders.save(order)
    saga_finished(order)
    return True


def advance_fulfilment(command: AdvanceFulfilment, uow: OrderUnitOfWork) -> Order | None:
    """The next fulfilment step (StaffOnly for anyone but staff and admins, FulfilmentNotAllowed
    for any other step); None if the order is unknown."""
    if not command.by.is_staff:
        raise StaffOnly("staff or admin role required")
    order = uow.orders.get_for_update(command.order_id)
    if order is None:
        return None
    order.advance_fulfilment(command.status, changed_by=command.by.user_id, at=datetime.now(UTC))
    uow.orders.save(order)
    FULFILMENT_STEPS.labels(command.status.value).inc()
    log.info("order_fulfilment_advanced", order_id=order.order_id, fulfilment=order.fulfilment)
    return order
