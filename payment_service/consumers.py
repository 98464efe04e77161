"""The events payment_service consumes, each with its handler: the one table of subscriptions."""

from __future__ import annotations

from contracts.events import OrderCancelled, OrderRejected, StockReserved
from payment_service.application import handlers
from payment_service.application.ports import PaymentUnitOfWork
from payment_service.domain.model import AGGREGATE
from servicekit.messaging.inbox import locks_by_payload
from servicekit.messaging.subscriptions import Subscriptions, on

# The units of work carry the payment methods, which come from settings: main.py supplies them
# with .using(...).
SUBSCRIPTIONS: Subscriptions[PaymentUnitOfWork] = Subscriptions(
    "payment-service",
    on(StockReserved, handlers.on_stock_reserved),
    # Every handler locks the payment of its event's order, so several arrive in one transaction.
    batch_locks=locks_by_payload(AGGREGATE),
)

# The compensations, a second member of the group: the orders topic carries two events of
# every order that payment_service has no handler for (order.created, order.confirmed), and each
# was a fetch of its own, answered as soon as it was written, only to be skipped. No order waits
# on a void or a refund to reach its outcome (it is cancelled or rejected already), so this
# member gathers its fetches (PAYMENT_COMPENSATION_GATHER_MS, main.py): one fetch brings what a
# fraction of a second brought, and the events it applies wait that much longer.
COMPENSATIONS: Subscriptions[PaymentUnitOfWork] = Subscriptions(
    "payment-service",
    on(OrderCancelled, handlers.on_order_cancelled),
    on(OrderRejected, handlers.on_order_rejected),
    batch_locks=locks_by_payload(AGGREGATE),
    member="compensations",
)
