"""The events product_service consumes, and from which topics."""

from __future__ import annotations

from product_service.application.handlers import (
    STOCK_RESERVATION,
    on_order_cancelled,
    on_order_confirmed,
    on_order_created,
    on_order_rejected,
)
from servicekit.messaging.inbox import InboxConsumer, locks_by_payload
from servicekit.settings import KafkaSettings
from servicekit.web import ServiceRuntime, inbox_consumer

SUBSCRIPTIONS = {
    "order.events": {
        "order.created": on_order_created,
        "order.confirmed": on_order_confirmed,
        "order.cancelled": on_order_cancelled,
        "order.rejected": on_order_rejected,
    },
}


def build_consumers(runtime: ServiceRuntime, kafka: KafkaSettings) -> list[InboxConsumer]:
    """The ``product-service`` inbox consumer."""
    locks = locks_by_payload(STOCK_RESERVATION)
    return [inbox_consumer("product-service", SUBSCRIPTIONS, runtime, kafka, batch_locks=locks)]
