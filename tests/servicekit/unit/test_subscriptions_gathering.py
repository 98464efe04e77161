"""A Subscriptions table that gathers its fetches: what its consumer is configured with."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from contracts.events import OrderConfirmed, OrderCreated, StockReserved
from servicekit.messaging.inbox import no_locks
from servicekit.messaging.kafka import consumer_config
from servicekit.messaging.subscriptions import Subscriptions, on
from servicekit.service_app import members, subscribed_consumer
from servicekit.settings import KafkaSettings


def _noop(event: object, uow: object) -> None:
    del event, uow


def table() -> Subscriptions:
    return Subscriptions(
        "test-group", on(OrderCreated, _noop), on(OrderConfirmed, _noop), batch_locks=no_locks
    )


def test_a_table_fetches_every_event_at_once_unless_it_gathers() -> None:
    assert table().consumer_overrides() == {}
    assert table().gathering(0).consumer_overrides() == {}


def test_a_gathering_table_makes_the_broker_hold_each_fetch_for_its_window() -> None:
    gathered = table().gathering(250)
    overrides = gathered.consumer_overrides()
    assert overrides["fetch.wait.max.ms"] == 250
    # More than a window of events ever brings: the broker answers when the window ends.
    assert overrides["fetch.min.bytes"] >= 1 << 20
    config = consumer_config(KafkaSettings(), group_id="g", client_id="c", **overrides)
    assert config["fetch.wait.max.ms"] == 250
    # The rest of the table is unchanged.
    assert gathered.group == "test-group"
    assert gathered.batch_locks is no_locks
    assert [e.event_type for e in gathered.events] == ["order.created", "order.confirmed"]


def test_a_table_given_its_unit_of_work_keeps_gathering() -> None:
    assert table().gathering(100).using(lambda session, cause: None).gather_ms == 100


def test_a_negative_window_is_refused() -> None:
    with pytest.raises(ValueError, match="gather_ms"):
        Subscriptions("test-group", on(OrderCreated, _noop), gather_ms=-1)


def test_the_service_consumer_of_a_gathering_table_is_configured_to_gather() -> None:
    runtime = SimpleNamespace(database=SimpleNamespace(sessions=None))
    consumer = subscribed_consumer(
        table().gathering(300).using(lambda session, cause: None),
        runtime,
        KafkaSettings(),
    )
    assert consumer._consumer_overrides["fetch.wait.max.ms"] == 300
    assert consumer.batch_locks is no_locks  # so that what one fetch brings shares a transaction


def test_deferrable_events_need_the_batch_path() -> None:
    with pytest.raises(ValueError, match="batch_locks"):
        Subscriptions("test-group", on(OrderConfirmed, _noop, deferrable=True))
    table = Subscriptions(
        "test-group", on(OrderConfirmed, _noop, deferrable=True), batch_locks=no_locks
    )
    assert table.deferrable == ["order.confirmed"]


def test_members_of_one_group_each_name_themselves_and_consume_their_own_topics() -> None:
    steps = Subscriptions("test-group", on(OrderCreated, _noop))
    later = Subscriptions("test-group", on(StockReserved, _noop), member="later").gathering(200)
    assert members([steps, later]) == [steps, later]
    assert members(steps) == [steps]
    # A member of the gathering kind keeps its name through using() and gathering().
    assert later.using(lambda session, cause: None).member == "later"
    # Two members on one topic: each would skip the other's events on the partitions it got.
    with pytest.raises(ValueError, match=r"both consume order\.events"):
        members([steps, Subscriptions("test-group", on(OrderConfirmed, _noop), member="b")])
    with pytest.raises(ValueError, match="share a name"):
        members([later, Subscriptions("test-group", on(OrderConfirmed, _noop), member="later")])
    # Other groups may read the same topic.
    assert len(members([steps, Subscriptions("other-group", on(OrderConfirmed, _noop))])) == 2


def test_each_member_has_its_own_client_and_static_membership_id() -> None:
    runtime = SimpleNamespace(database=SimpleNamespace(sessions=None))
    kafka = KafkaSettings(group_instance_id="host-1")
    table = Subscriptions("test-group", on(StockReserved, _noop), member="later")
    consumer = subscribed_consumer(table.using(lambda session, cause: None), runtime, kafka)
    assert (consumer.name, consumer.member, consumer.client_id) == (
        "test-group",
        "later",
        "test-group-later",
    )
    config = consumer_config(kafka, group_id="test-group", client_id="c", static_member=True)
    member = consumer_config(
        kafka, group_id="test-group", client_id="c", static_member=True, member="later"
    )
    assert config["group.instance.id"] == "test-group-host-1"
    assert member["group.instance.id"] == "test-group-host-1-later"
