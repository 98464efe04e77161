"""Replaying dead letters on the fakes: what goes back to Kafka, what is recorded, under which
lock, and that a replay Kafka did not acknowledge records nothing."""

from __future__ import annotations

import functools
from datetime import timedelta

import pytest

from ops_service.adapters.memory import InMemoryOpsUnitOfWork, ReplayStore
from ops_service.application import metrics
from ops_service.application.dlq import REPLAY_LOCK, ReplayDeadLetters, replay_dead_letters
from ops_service.application.ports import DependencyUnavailable
from ops_service.application.service import OpsService
from ops_service.domain.errors import UnknownDeadLetterTopic
from tests.ops_service.unit.support import FakeMessageLog, dead_letter

TOPIC = "order.events.dlq"


class NoOrders:
    async def get(self, order_id: str, *, token: str) -> None:
        return None


class NoInboxes:
    async def entries(self, event_ids: object, *, token: str) -> None:
        raise AssertionError("not asked in a replay")


def service(messages: FakeMessageLog, store: ReplayStore) -> OpsService:
    return OpsService(
        functools.partial(InMemoryOpsUnitOfWork, store),
        orders=NoOrders(),
        messages=messages,
        inboxes=NoInboxes(),
        trace_start_margin=timedelta(seconds=60),
    )


def test_a_replay_puts_each_message_back_once_records_who_and_locks_the_topic() -> None:
    messages = FakeMessageLog(
        letters=[
            dead_letter(1, event_id="e-1", consumer="product-service"),
            dead_letter(2, event_id="e-1", consumer="payment-service"),
        ]
    )
    uow = InMemoryOpsUnitOfWork()
    with uow:
        replay = replay_dead_letters(
            ReplayDeadLetters(topic=TOPIC, event_ids=None, replayed_by="admin-1"), uow, messages
        )
    assert replay is not None
    assert (replay.topic, replay.event_ids, replay.count, replay.replayed_by) == (
        TOPIC,
        ["e-1"],
        1,
        "admin-1",
    )
    assert [[m.record.offset for m in batch] for batch in messages.put] == [[1]]
    assert uow.locks == [(REPLAY_LOCK, TOPIC)]
    assert uow.store.replays == {replay.replay_id: replay}
    assert set(uow.store.letters) == {(TOPIC, 2, 1), (TOPIC, 2, 2)}


def test_a_second_replay_of_everything_finds_nothing_waiting() -> None:
    messages = FakeMessageLog(letters=[dead_letter(1, event_id="e-1")])
    ops = service(messages, store := ReplayStore())
    first = ops.replay(topic=TOPIC, event_ids=None, replayed_by="admin-1")
    assert first is not None
    assert ops.replay(topic=TOPIC, event_ids=None, replayed_by="admin-1") is None
    assert len(messages.put) == 1
    assert list(store.replays) == [first.replay_id]
    assert ops.dead_letters()[0].replayed_at == first.replayed_at


def test_a_replay_kafka_did_not_acknowledge_records_nothing_and_leaves_the_letters_waiting() -> (
    None
):
    messages = FakeMessageLog(letters=[dead_letter(1, event_id="e-1")], kafka_down=True)
    ops = service(messages, store := ReplayStore())
    with pytest.raises(DependencyUnavailable):
        ops.replay(topic=TOPIC, event_ids=["e-1"], replayed_by="admin-1")
    assert store.replays == {}
    assert store.letters == {}
    assert ops.dead_letters()[0].replayed_at is None


def test_a_topic_that_is_not_a_dead_letter_topic_is_unknown() -> None:
    ops = service(FakeMessageLog(), ReplayStore())
    with pytest.raises(UnknownDeadLetterTopic):
        ops.replay(topic="nope.events.dlq", event_ids=None, replayed_by="admin-1")


def test_replays_are_counted_per_topic_with_the_messages_they_put_back() -> None:
    messages = FakeMessageLog(
        letters=[dead_letter(1, event_id="e-1"), dead_letter(2, event_id="e-2", origin_offset=8)]
    )
    replays = metrics.DLQ_REPLAYS.labels(TOPIC)
    put_back = metrics.DLQ_REPLAYED_MESSAGES.labels(TOPIC)
    before = (replays._value.get(), put_back._value.get())
    service(messages, ReplayStore()).replay(topic=TOPIC, event_ids=None, replayed_by="a")
    assert (replays._value.get(), put_back._value.get()) == (before[0] + 1, before[1] + 2)
