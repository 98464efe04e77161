"""An order's trace on fakes: order_service's facts, the saga's messages from just before the
order was placed, the inbox entries of exactly those events, and the correlation id."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import pytest

from ops_service.application.ports import (
    InboxAnswer,
    InboxEntry,
    InboxSource,
    OrderFacts,
    TimelineStep,
)
from ops_service.application.trace import SAGA_TOPICS, trace_order
from ops_service.domain.errors import OrderNotFound
from ops_service.domain.model import KafkaRecord
from tests.ops_service.unit.support import T0, FakeMessageLog, record

ORDER = "9b0f6c1e-3a51-4a57-9d59-0b1f1d7c4e21"


class Orders:
    def __init__(self, facts: OrderFacts | None) -> None:
        self.facts = facts
        self.tokens: list[str] = []

    async def get(self, order_id: str, *, token: str) -> OrderFacts | None:
        self.tokens.append(token)
        return self.facts


class Inboxes:
    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    async def entries(self, event_ids: Sequence[str], *, token: str) -> InboxAnswer:
        self.asked.append(list(event_ids))
        entry = InboxEntry(
            "product-service",
            "product-service",
            event_ids[0],
            "order.created",
            "order.events",
            2,
            10,
            T0,
        )
        return InboxAnswer(
            [entry],
            [
                InboxSource("product-service", True),
                InboxSource("payment-service", False, "answered 404"),
            ],
        )


def facts(correlation_id: str | None) -> OrderFacts:
    step = TimelineStep("order placed", "order.created", "order_service", T0)
    return OrderFacts(ORDER, T0, correlation_id, [step])


def message(topic: str, offset: int, event_id: str, correlation_id: str) -> KafkaRecord:
    return record(
        topic,
        2,
        offset,
        key=ORDER,
        headers={"event_id": event_id, "correlation_id": correlation_id},
    )


def test_the_trace_gathers_the_order_its_messages_and_their_inbox_entries() -> None:
    messages = FakeMessageLog(
        keyed=[
            message("order.events", 10, "e-1", "c-1"),
            message("stock_reservation.events", 4, "e-2", "c-1"),
            record("order.events", 2, 11, key="another-order", headers={"event_id": "e-9"}),
        ]
    )
    inboxes = Inboxes()
    orders = Orders(facts("c-1"))
    trace = asyncio.run(
        trace_order(
            ORDER,
            token="t",
            orders=orders,
            messages=messages,
            inboxes=inboxes,
            start_margin=timedelta(seconds=60),
        )
    )
    assert messages.reads == [(SAGA_TOPICS, ORDER, T0 - timedelta(seconds=60))]
    assert SAGA_TOPICS == ("order.events", "stock_reservation.events", "payment.events")
    assert [m.offset for m in trace.messages] == [10, 4]
    assert inboxes.asked == [["e-1", "e-2"]]
    assert orders.tokens == ["t"]
    assert trace.correlation_id == "c-1"
    assert [s.event_type for s in trace.timeline] == ["order.created"]
    assert [e.event_id for e in trace.inbox] == ["e-1"]
    assert [(s.service, s.available) for s in trace.inbox_sources] == [
        ("product-service", True),
        ("payment-service", False),
    ]
    assert not trace.truncated


def test_without_it_from_order_service_the_correlation_id_comes_from_the_messages() -> None:
    messages = FakeMessageLog(keyed=[message("order.events", 10, "e-1", "c-from-kafka")])
    trace = asyncio.run(
        trace_order(
            ORDER,
            token="t",
            orders=Orders(facts(None)),
            messages=messages,
            inboxes=Inboxes(),
            start_margin=timedelta(0),
        )
    )
    assert trace.correlation_id == "c-from-kafka"


def test_an_order_with_no_message_yet_asks_no_inbox() -> None:
    inboxes = Inboxes()
    trace = asyncio.run(
        trace_order(
            ORDER,
            token="t",
            orders=Orders(facts("c-1")),
            messages=FakeMessageLog(),
            inboxes=inboxes,
            start_margin=timedelta(0),
        )
    )
    assert (trace.messages, trace.inbox, inboxes.asked) == ([], [], [])


def test_an_order_order_service_does_not_know_is_not_found() -> None:
    with pytest.raises(OrderNotFound):
        asyncio.run(
            trace_order(
                ORDER,
                token="t",
                orders=Orders(None),
                messages=FakeMessageLog(),
                inboxes=Inboxes(),
                start_margin=timedelta(0),
            )
        )
