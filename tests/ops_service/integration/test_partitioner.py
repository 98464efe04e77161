"""partition_for_key is the partition a real producer puts a keyed message on: checked against
confluent-kafka's producer as the relay configures it, on topics of several partition counts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer

from ops_service.adapters.partitioner import partition_for_key
from servicekit.messaging.kafka import admin_client, ensure_topics, producer_config
from servicekit.settings import KafkaSettings

pytestmark = pytest.mark.integration


@pytest.fixture
def topics(engines: None) -> Iterator[dict[int, str]]:
    """A throw-away topic per partition count (the platform's 6 among them)."""
    names: dict[int, str] = {}
    for count in (1, 3, 6, 7, 12):
        names[count] = f"partitioner{uuid.uuid4().hex[:10]}"
        settings = KafkaSettings(topic_partitions=count)
        ensure_topics(settings, [names[count]])
    yield names
    admin = admin_client(KafkaSettings())
    for future in admin.delete_topics(list(names.values()), operation_timeout=30).values():
        future.result(30)


def test_the_partition_of_a_key_is_the_one_the_producer_chooses(topics: dict[int, str]) -> None:
    producer = Producer(producer_config(KafkaSettings(), client_id="partitioner-test"))
    delivered: list[tuple[int, bytes, int]] = []
    failures: list[str] = []
    keys = [str(uuid.uuid4()).encode() for _ in range(200)] + [b"order-1", b"\x00\xff", b"x" * 300]
    for count, topic in topics.items():
        for key in keys:
            producer.produce(
                topic,
                key=key,
                value=b"{}",
                on_delivery=lambda error, message, count=count: (
                    failures.append(str(error))
                    if error is not None
                    else delivered.append((count, message.key(), message.partition()))
                ),
            )
    assert producer.flush(30) == 0
    assert failures == []
    assert len(delivered) == len(keys) * len(topics)
    wrong = [(c, k, p) for c, k, p in delivered if partition_for_key(k, c) != p]
    assert wrong == []
    # Not a trivial function: the 200 random keys spread over the 12 partitions.
    assert len({p for c, _, p in delivered if c == 12}) == 12
