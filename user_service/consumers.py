"""The events user_service consumes, and from which topics."""

from __future__ import annotations

from servicekit.messaging.inbox import InboxConsumer, no_locks
from servicekit.settings import KafkaSettings
from servicekit.web import ServiceRuntime, inbox_consumer
from user_service.application.handlers import on_account_registered

SUBSCRIPTIONS = {
    "account.events": {"account.registered": on_account_registered},
}


def build_consumers(runtime: ServiceRuntime, kafka: KafkaSettings) -> list[InboxConsumer]:
    """The ``user-service`` inbox consumer."""
    return [inbox_consumer("user-service", SUBSCRIPTIONS, runtime, kafka, batch_locks=no_locks)]
