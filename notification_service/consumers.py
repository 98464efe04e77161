"""The events notification_service consumes, each with its handler: the one table of
subscriptions."""

from __future__ import annotations

from contracts.events import (
    AccountRegistered,
    GuestConverted,
    GuestRegistered,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderDelivered,
    OrderRejected,
    OrderShipped,
    ProfileUpdated,
)
from notification_service.adapters.repository import SqlNotificationUnitOfWork
from notification_service.application import handlers
from servicekit.messaging.inbox import no_locks
from servicekit.messaging.subscriptions import Subscriptions, on

SUBSCRIPTIONS = Subscriptions(
    "notification-service",
    on(AccountRegistered, handlers.on_account_registered),
    on(GuestRegistered, handlers.on_guest_registered),
    on(GuestConverted, handlers.on_guest_converted),
    on(ProfileUpdated, handlers.on_profile_updated),
    on(OrderCreated, handlers.on_order_created),
    on(OrderConfirmed, handlers.on_order_confirmed),
    on(OrderCancelled, handlers.on_order_cancelled),
    on(OrderRejected, handlers.on_order_rejected),
    on(OrderShipped, handlers.on_order_shipped),
    on(OrderDelivered, handlers.on_order_delivered),
    unit_of_work=SqlNotificationUnitOfWork.joining,
    # The handlers emit no events, so they lock no aggregate: several messages that arrive
    # together are applied in one transaction.
    batch_locks=no_locks,
)
