"""The events order_service consumes, and from which topics."""

from __future__ import annotations

from order_service.application.handlers import event_handlers
from servicekit.messaging.inbox import InboxConsumer, locks_by_payload
from servicekit.settings import KafkaSettings
from servicekit.web import ServiceRuntime, inbox_consumer

EVENTS = {
    "product.events": ("product.created", "product.updated"),
    "stock_reservation.events": (
        "stock.reserved",
        "stock.reservation_failed",
        "stock.released",
        "stock.committed",
    ),
    "payment.events": (
        "payment.authorized",
        "payment.declined",
        "payment.refunded",
        "payment.voided",
    ),
}


def build_consumers(runtime: ServiceRuntime, kafka: KafkaSettings) -> list[InboxConsumer]:
    """The ``order-service`` inbox consumer; its handlers need the saga settings."""
    handlers = event_handlers(runtime.extras["orders"])
    subscriptions = {topic: {t: handlers[t] for t in types} for topic, types in EVENTS.items()}
    return [
        inbox_consumer(
            "order-service", subscriptions, runtime, kafka, batch_locks=locks_by_payload("order")
        )
    ]
