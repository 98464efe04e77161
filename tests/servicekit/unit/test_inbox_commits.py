"""The inbox consumer's offset commits: an asynchronous commit that failed is sent again with the
next periodic commit, for the partitions the consumer still owns, unless a newer offset already
waits. Without this, a commit lost while a broker failed over at the end of the traffic left the
group's lag standing until the next rebalance (a chaos round on the HA topology waited on it)."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError, TopicPartition

from servicekit.messaging.inbox import InboxConsumer
from servicekit.settings import KafkaSettings


class FakeConsumer:
    """What _on_commit asks of the consumer: its current assignment."""

    def __init__(self, owned: list[tuple[str, int]]) -> None:
        self.owned = owned

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(topic, partition) for topic, partition in self.owned]


NO_SESSIONS: Any = None  # no event is applied here


def inbox(owned: list[tuple[str, int]]) -> InboxConsumer:
    consumer = InboxConsumer(
        name="test-service",
        topics=["order.events"],
        handlers={},
        session_factory=NO_SESSIONS,
        kafka=KafkaSettings(),
    )
    fake: Any = FakeConsumer(owned)
    consumer._consumer = fake
    return consumer


def test_a_failed_commit_is_retried_for_the_partitions_still_owned() -> None:
    consumer = inbox(owned=[("order.events", 0), ("order.events", 1)])
    consumer._pending[("order.events", 1)] = 90  # newer than the failed one: it wins

    consumer._on_commit(
        KafkaError(KafkaError.NOT_COORDINATOR),
        [
            TopicPartition("order.events", 0, 41),
            TopicPartition("order.events", 1, 80),
            TopicPartition("order.events", 2, 7),  # given to another member meanwhile
        ],
    )

    assert consumer._pending == {("order.events", 0): 41, ("order.events", 1): 90}


def test_a_commit_that_succeeded_leaves_nothing_to_send() -> None:
    consumer = inbox(owned=[("order.events", 0)])

    consumer._on_commit(None, [TopicPartition("order.events", 0, 41)])

    assert consumer._pending == {}
