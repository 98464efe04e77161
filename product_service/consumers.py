"""The events product_service consumes, each with its handler: the one table of subscriptions."""

from __future__ import annotations

from contracts.events import OrderCancelled, OrderConfirmed, OrderCreated, OrderRejected
from product_service.adapters.repository import SqlProductUnitOfWork
from product_service.application import handlers
from product_service.domain.reservation import Reservation
from servicekit.messaging.inbox import locks_by_payload
from servicekit.messaging.subscriptions import Subscriptions, on

SUBSCRIPTIONS = Subscriptions(
    "product-service",
    on(OrderCreated, handlers.on_order_created),
    on(OrderConfirmed, handlers.on_order_confirmed, deferrable=True),
    on(OrderCancelled, handlers.on_order_cancelled),
    on(OrderRejected, handlers.on_order_rejected),
    unit_of_work=SqlProductUnitOfWork.joining,
    # Every handler locks the reservation of its order, so several arrive in one transaction.
    batch_locks=locks_by_payload(Reservation.aggregate_type),
)
