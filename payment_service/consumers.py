"""The events payment_service consumes, each with its handler: the one table of subscriptions."""

from __future__ import annotations

from contracts.events import OrderCancelled, OrderRejected, StockReserved
from payment_service.application import handlers
from payment_service.application.ports import PaymentUnitOfWork
from payment_service.domain.model import AGGREGATE
from servicekit.messaging.inbox import locks_by_payload
from servicekit.messaging.subscriptions import Subscriptions, on

# The units of work carry the payment methods, which come from settings: main.py supplies them
# with SUBSCRIPTIONS.using(...).
SUBSCRIPTIONS: Subscriptions[PaymentUnitOfWork] = Subscriptions(
    "payment-service",
    on(StockReserved, handlers.on_stock_reserved),
    on(OrderCancelled, handlers.on_order_cancelled),
    on(OrderRejected, handlers.on_order_rejected),
    # Every handler locks the payment of its event's order, so several arrive in one transaction.
    batch_locks=locks_by_payload(AGGREGATE),
)
