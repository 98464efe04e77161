"""The events payment_service consumes, and from which topics."""

from __future__ import annotations

import functools

from payment_service.adapters.provider import PaymentProvider
from payment_service.application.handlers import AGGREGATE, on_order_ended, on_stock_reserved
from servicekit.messaging.inbox import Handler, InboxConsumer, locks_by_payload
from servicekit.settings import KafkaSettings
from servicekit.web import ServiceRuntime, inbox_consumer


def subscriptions(provider: PaymentProvider) -> dict[str, dict[str, Handler]]:
    """topic -> event_type -> handler."""
    return {
        "stock_reservation.events": {
            "stock.reserved": functools.partial(on_stock_reserved, provider=provider),
        },
        "order.events": {
            "order.cancelled": on_order_ended,
            "order.rejected": on_order_ended,
        },
    }


def build_consumers(
    runtime: ServiceRuntime, kafka: KafkaSettings, *, provider: PaymentProvider
) -> list[InboxConsumer]:
    """The ``payment-service`` inbox consumer."""
    locks = locks_by_payload(AGGREGATE)
    return [
        inbox_consumer(
            "payment-service", subscriptions(provider), runtime, kafka, batch_locks=locks
        )
    ]
