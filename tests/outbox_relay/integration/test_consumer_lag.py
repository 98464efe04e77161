"""Consumer lag as the relay serves it (outbox_relay/consumer_lag.py), against the real Kafka: a
throw-away topic with known end offsets, a group with known committed offsets."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from prometheus_client import REGISTRY

from outbox_relay.consumer_lag import ConsumerLagCollector
from servicekit.messaging.kafka import admin_client
from servicekit.settings import KafkaSettings
from tests.support import free_port

PARTITIONS = 3
# Messages produced to each partition, and the offset the group committed on it.
PRODUCED = {0: 5, 1: 3, 2: 0}
COMMITTED = {0: 2, 1: 3}  # nothing committed on partition 2


@pytest.fixture(scope="module")
def kafka() -> KafkaSettings:
    """The local broker's settings."""
    return KafkaSettings()


@pytest.fixture(scope="module")
def topic(kafka: KafkaSettings) -> Iterator[str]:
    """A new topic holding PRODUCED messages per partition; deleted afterwards."""
    name = f"test-lag-{uuid.uuid4().hex[:12]}"
    admin = admin_client(kafka)
    admin.create_topics([NewTopic(name, num_partitions=PARTITIONS, replication_factor=1)])[
        name
    ].result(timeout=15)
    producer = Producer({"bootstrap.servers": kafka.bootstrap_servers})
    for partition, count in PRODUCED.items():
        for index in range(count):
            producer.produce(name, value=f"{index}".encode(), partition=partition)
    assert producer.flush(15) == 0
    yield name
    admin.delete_topics([name], operation_timeout=15)[name].result(timeout=15)


def commit(kafka: KafkaSettings, group: str, topic: str, offsets: dict[int, int]) -> None:
    """Commit ``offsets`` for ``group`` without joining it (as a consumer does after applying)."""
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap_servers, "group.id": group})
    try:
        consumer.commit(
            offsets=[TopicPartition(topic, p, offset) for p, offset in offsets.items()],
            asynchronous=False,
        )
    finally:
        consumer.close()


def samples(collector: ConsumerLagCollector) -> dict[str, dict[tuple[str, ...], float]]:
    """metric name -> label values -> value, of one collection."""
    return {
        family.name: {tuple(s.labels.values()): s.value for s in family.samples}
        for family in collector.collect()
    }


def test_lag_is_the_end_offset_minus_the_committed_one_per_partition(
    kafka: KafkaSettings, topic: str
) -> None:
    group = f"lagtest-{uuid.uuid4().hex[:8]}-service"
    other = f"lagtest-{uuid.uuid4().hex[:8]}-tool"  # does not match the pattern
    commit(kafka, group, topic, COMMITTED)
    commit(kafka, other, topic, {0: 1})
    collector = ConsumerLagCollector(
        lambda: admin_client(kafka), re.compile(r"lagtest-[0-9a-f]{8}-service"), cache_seconds=0
    )

    found = samples(collector)

    lag = found["kafka_consumer_group_lag_messages"]
    mine = {labels: value for labels, value in lag.items() if labels[0] == group}
    assert mine == {(group, topic, "0"): 3, (group, topic, "1"): 0}
    assert not [labels for labels in lag if labels[0] == other]
    committed = found["kafka_consumer_group_committed_offset"]
    assert committed[(group, topic, "0")] == 2
    assert committed[(group, topic, "1")] == 3
    ends = found["kafka_topic_partition_end_offset"]
    assert ends[(topic, "0")] == 5
    assert ends[(topic, "1")] == 3


def test_series_are_bounded(kafka: KafkaSettings, topic: str) -> None:
    group = f"lagtest-{uuid.uuid4().hex[:8]}-service"
    commit(kafka, group, topic, {0: 1, 1: 1, 2: 0})
    collector = ConsumerLagCollector(
        lambda: admin_client(kafka), re.compile(re.escape(group)), max_partitions=2
    )

    assert len(samples(collector)["kafka_consumer_group_lag_messages"]) == 2


class CountingFactory:
    """An AdminClient factory that counts the clients it made."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.made = 0

    def __call__(self) -> AdminClient:
        self.made += 1
        return AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})


def failures() -> float:
    value: Any = REGISTRY.get_sample_value("kafka_consumer_lag_collection_failures_total")
    return float(value or 0.0)


def test_no_series_but_a_counted_failure_when_kafka_does_not_answer() -> None:
    # Nobody listens there: every call times out.
    factory = CountingFactory(f"127.0.0.1:{free_port()}")
    collector = ConsumerLagCollector(
        factory, re.compile(".*"), cache_seconds=0, timeout_seconds=0.5
    )
    before = failures()

    assert list(collector.collect()) == []
    assert failures() == before + 1
    # A failed read drops its client: the next scrape starts from a new one.
    assert list(collector.collect()) == []
    assert factory.made == 2
    assert failures() == before + 2


def test_one_read_serves_the_scrapes_within_the_cache_period(kafka: KafkaSettings) -> None:
    factory = CountingFactory(kafka.bootstrap_servers)
    reads = 0
    collector = ConsumerLagCollector(factory, re.compile("no-such-group"), cache_seconds=60)
    original = collector._read

    def counted_read() -> dict[tuple[str, str, int], tuple[int, int]]:
        nonlocal reads
        reads += 1
        return original()

    collector._read = counted_read  # type: ignore[method-assign]
    for _ in range(3):
        list(collector.collect())
    assert reads == 1
