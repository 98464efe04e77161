"""The events notification_service consumes, and from which topics."""

from __future__ import annotations

from notification_service.application.handlers import (
    on_account_registered,
    on_order_confirmed,
    on_order_ended,
)
from servicekit.messaging.inbox import InboxConsumer, no_locks
from servicekit.settings import KafkaSettings
from servicekit.web import ServiceRuntime, inbox_consumer

SUBSCRIPTIONS = {
    "account.events": {"account.registered": on_account_registered},
    "order.events": {
        "order.confirmed": on_order_confirmed,
        "order.cancelled": on_order_ended,
        "order.rejected": on_order_ended,
    },
}


def build_consumers(runtime: ServiceRuntime, kafka: KafkaSettings) -> list[InboxConsumer]:
    """The ``notification-service`` inbox consumer."""
    return [
        inbox_consumer("notification-service", SUBSCRIPTIONS, runtime, kafka, batch_locks=no_locks)
    ]
