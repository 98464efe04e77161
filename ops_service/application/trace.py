"""One order's trace: what order_service says, every Kafka message of its saga, and every inbox
entry those messages left in the services that consumed them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from ops_service.application.ports import (
    InboxAnswer,
    InboxEntry,
    Inboxes,
    InboxSource,
    MessageLog,
    Orders,
    TimelineStep,
)
from ops_service.domain.errors import OrderNotFound
from ops_service.domain.model import KafkaRecord
from servicekit.messaging.envelope import topic_for

# The saga's topics; every one of their events about an order is keyed by the order id.
SAGA_TOPICS = tuple(topic_for(aggregate) for aggregate in ("order", "stock_reservation", "payment"))


@dataclass(frozen=True, slots=True)
class OrderTrace:
    """Everything an operator needs to follow one order through the platform."""

    order_id: str
    correlation_id: str | None
    timeline: list[TimelineStep]
    messages: list[KafkaRecord]
    inbox: list[InboxEntry]
    inbox_sources: list[InboxSource]
    truncated: bool


async def trace_order(
    order_id: str,
    *,
    token: str,
    orders: Orders,
    messages: MessageLog,
    inboxes: Inboxes,
    start_margin: timedelta,
) -> OrderTrace:
    """The order's trace; OrderNotFound when order_service does not know it."""
    order = await orders.get(order_id, token=token)
    if order is None:
        raise OrderNotFound(order_id)
    read = await asyncio.to_thread(
        messages.read_keyed, SAGA_TOPICS, order_id, since=order.created_at - start_margin
    )
    event_ids = list(dict.fromkeys(e for m in read.messages if (e := m.header("event_id"))))
    inbox = await inboxes.entries(event_ids, token=token) if event_ids else InboxAnswer([], [])
    return OrderTrace(
        order_id=order_id,
        # Every message of the saga carries the correlation id of the request that placed it.
        correlation_id=order.correlation_id
        or next((c for m in read.messages if (c := m.header("correlation_id"))), None),
        timeline=order.timeline,
        messages=read.messages,
        inbox=inbox.entries,
        inbox_sources=inbox.sources,
        truncated=read.truncated,
    )
