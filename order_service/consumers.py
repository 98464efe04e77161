"""The events order_service consumes, each with its handler: the one table of subscriptions."""

from __future__ import annotations

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
from order_service.adapters.repository import SqlOrderUnitOfWork
from order_service.application import handlers
from servicekit.messaging.inbox import locks_by_payload
from servicekit.messaging.subscriptions import Subscriptions, on

SUBSCRIPTIONS = Subscriptions(
    "order-service",
    on(ProductCreated, handlers.on_product_created),
    on(ProductUpdated, handlers.on_product_updated),
    on(ProductArchived, handlers.on_product_archived),
    on(CategoryCreated, handlers.on_category_created),
    on(CategoryUpdated, handlers.on_category_updated),
    on(CategoryDeleted, handlers.on_category_deleted),
    on(StockReserved, handlers.on_stock_reserved),
    on(StockReservationFailed, handlers.on_stock_reservation_failed),
    on(StockReleased, handlers.on_stock_released, deferrable=True),
    on(StockCommitted, handlers.on_stock_committed, deferrable=True),
    on(PaymentAuthorized, handlers.on_payment_authorized),
    on(PaymentAwaiting, handlers.on_payment_awaiting),
    on(PaymentDeclined, handlers.on_payment_declined),
    on(PaymentRefunded, handlers.on_payment_refunded, deferrable=True),
    on(PaymentVoided, handlers.on_payment_voided, deferrable=True),
    unit_of_work=SqlOrderUnitOfWork.joining,
    # Every handler of a saga event locks the order it is about (the read models' handlers lock
    # nothing: they record no events), so several arrive in one transaction.
    batch_locks=locks_by_payload("order"),
)
