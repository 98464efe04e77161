"""The events notification_service consumes, and from which topics."""

from __future__ import annotations

from notification_service.application.handlers import (
    on_account_registered,
    on_order_confirmed,
    on_order_ended,
)
from servicekit.messaging.inbox import InboxConsumer
from servicekit.settings import KafkaSettings
from servicekit.web import ServiceRuntime

SUBSCRIPTIONS = {
    "account.events": {"account.registered": on_account_registered},
    "order.events": {
        "order.confirmed": on_order_confirmed,
        "order.cancelled": on_order_ended,
        "order.rejected": on_order_ended,
    },
}


def build_consumers(runtime: ServiceRuntime, kafka: KafkaSettings) -> list[InboxConsumer]:
    """One inbox consumer (group ``notification-service``) over every subscribed topic."""
    handlers = {k: v for table in SUBSCRIPTIONS.values() for k, v in table.items()}
    return [
        InboxConsumer(
            name="notification-service",
            topics=list(SUBSCRIPTIONS),
            handlers=handlers,
            session_factory=runtime.database.sessions,
            kafka=kafka,
        )
    ]
