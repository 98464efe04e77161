"""The events user_service consumes, and from which topics."""

from __future__ import annotations

from servicekit.messaging.inbox import InboxConsumer
from servicekit.settings import KafkaSettings
from servicekit.web import ServiceRuntime
from user_service.application.handlers import on_account_registered

SUBSCRIPTIONS = {
    "account.events": {"account.registered": on_account_registered},
}


def build_consumers(runtime: ServiceRuntime, kafka: KafkaSettings) -> list[InboxConsumer]:
    """One inbox consumer (group ``user-service``) over every subscribed topic."""
    handlers = {k: v for table in SUBSCRIPTIONS.values() for k, v in table.items()}
    return [
        InboxConsumer(
            name="user-service",
            topics=list(SUBSCRIPTIONS),
            handlers=handlers,
            session_factory=runtime.database.sessions,
            kafka=kafka,
        )
    ]
