"""The events order_service consumes, and from which topics."""

from __future__ import annotations

from order_service.application.handlers import OrderDeps, event_handlers
from servicekit.messaging.inbox import InboxConsumer
from servicekit.settings import KafkaSettings
from servicekit.web import ServiceRuntime

TOPICS = ["product.events", "stock_reservation.events", "payment.events"]


def build_consumers(runtime: ServiceRuntime, kafka: KafkaSettings) -> list[InboxConsumer]:
    """One inbox consumer (group ``order-service``) over the saga's topics."""
    deps: OrderDeps = runtime.extras["orders"]
    return [
        InboxConsumer(
            name="order-service",
            topics=TOPICS,
            handlers=event_handlers(deps),
            session_factory=runtime.database.sessions,
            kafka=kafka,
        )
    ]
