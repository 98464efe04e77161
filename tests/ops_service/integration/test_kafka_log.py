"""KafkaLog against the real broker, on throw-away topics: one key's messages from the time
index on (older ones of the same key are not even read), from the one partition the key goes
to, with their offsets; the bounds; the newest dead letters; a replay that puts a letter back
as it first came."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition

from devstack import layout
from ops_service.adapters.kafka_log import KafkaLog, KafkaLogLimits
from ops_service.adapters.kafka_reading import ReadBounds
from ops_service.adapters.partitioner import partition_for_key
from ops_service.domain.model import DeadLetter
from servicekit.messaging.kafka import admin_client, ensure_topics, producer_config
from servicekit.settings import KafkaSettings

pytestmark = pytest.mark.integration

LIMITS = KafkaLogLimits(
    timeout_seconds=5,
    trace=ReadBounds(max_kept=100, max_scanned=10_000, seconds=10),
    dlq_per_partition=3,
    dlq_seconds=10,
    replay_seconds=10,
)

# (topic, partition, offset, key)
Delivered = tuple[str, int, int, bytes | None]


@pytest.fixture
def topics(engines: None) -> Iterator[list[str]]:
    prefix = f"opslog{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}a.events", f"{prefix}b.events", f"{prefix}a.events.dlq"]
    ensure_topics(KafkaSettings(), names)
    yield names
    admin = admin_client(KafkaSettings())
    for future in admin.delete_topics(names, operation_timeout=30).values():
        future.result(30)


def produce(
    messages: list[tuple[str, bytes | None, list[tuple[str, bytes]], int | None]],
) -> list[Delivered]:
    """Produce (topic, key, headers, timestamp in ms or None) in order; where each landed."""
    producer = Producer(producer_config(KafkaSettings(), client_id="ops-log-test"))
    delivered: list[Delivered] = []
    for topic, key, headers, timestamp in messages:
        producer.produce(
            topic,
            key=key,
            value=b'{"n": 1}',
            headers=headers,
            timestamp=timestamp or 0,
            on_delivery=lambda error, m: (
                delivered.append((m.topic(), m.partition(), m.offset(), m.key()))
                if error is None
                else None
            ),
        )
    assert producer.flush(30) == 0
    assert len(delivered) == len(messages)
    return delivered


def test_one_keys_messages_from_the_time_index_on_in_offset_order(topics: list[str]) -> None:
    first, second, _ = topics
    key = str(uuid.uuid4()).encode()
    an_hour_ago = int((time.time() - 3600) * 1000)
    old = produce([(first, key, [], an_hour_ago), (second, key, [], an_hour_ago)])
    since = datetime.now(UTC) - timedelta(seconds=5)
    others: list[tuple[str, bytes | None, list[tuple[str, bytes]], int | None]] = [
        (t, str(uuid.uuid4()).encode(), [], None) for t in (first, second) for _ in range(30)
    ]
    ours = [(t, key, [("event_id", str(uuid.uuid4()).encode())], None) for t in (first, second)]
    delivered = produce([*others[:20], ours[0], *others[20:40], ours[1], ours[0], *others[40:]])
    expected = [d for d in delivered if d[3] == key]

    read = KafkaLog(KafkaSettings(), LIMITS).read_keyed(
        [first, second, "no-such-topic-here.events"], key.decode(), since=since
    )

    got = [(m.topic, m.partition, m.offset, m.key) for m in read.messages]
    assert sorted(got) == sorted(expected)
    assert not set(got) & set(old)  # older than `since`: before the start offset
    for topic in (first, second):
        offsets = [offset for t, _, offset, _ in got if t == topic]
        assert offsets == sorted(offsets)
        assert {p for t, p, _, _ in got if t == topic} == {partition_for_key(key, 6)}
    assert all(m.header("event_id") for m in read.messages)
    assert not read.truncated


def test_a_read_stops_at_its_bounds_and_says_so(topics: list[str]) -> None:
    first, _, _ = topics
    key = str(uuid.uuid4()).encode()
    produce([(first, key, [], None) for _ in range(5)])
    since = datetime.now(UTC) - timedelta(minutes=1)
    few = replace(LIMITS, trace=ReadBounds(max_kept=3, max_scanned=10_000, seconds=10))
    read = KafkaLog(KafkaSettings(), few).read_keyed([first], key.decode(), since=since)
    assert len(read.messages) == 3
    assert read.truncated


def dlq_headers(original: str, offset: int) -> list[tuple[str, bytes]]:
    return [
        ("event_id", str(uuid.uuid4()).encode()),
        ("correlation_id", b"c-1"),
        ("dlq.error", b"EnvelopeError('not JSON')"),
        ("dlq.consumer", b"product-service"),
        ("dlq.original_topic", original.encode()),
        ("dlq.original_partition", b"0"),
        ("dlq.original_offset", str(offset).encode()),
    ]


def test_the_newest_dead_letters_of_each_partition(topics: list[str]) -> None:
    original, _, dlq = topics
    delivered = produce([(dlq, b"k", dlq_headers(original, n), None) for n in range(5)])
    log = KafkaLog(KafkaSettings(), LIMITS)
    assert dlq in log.dead_letter_topics()
    assert original not in log.dead_letter_topics()
    letters = log.dead_letters([dlq])
    newest = [(t, p, o) for t, p, o, _ in delivered][-LIMITS.dlq_per_partition :]
    assert [letter.record.position for letter in letters] == newest
    assert letters[0].error == "EnvelopeError('not JSON')"


def test_a_replayed_letter_goes_back_as_it_first_came(topics: list[str]) -> None:
    original, _, dlq = topics
    produce([(dlq, b"order-7", dlq_headers(original, 0), None)])
    log = KafkaLog(KafkaSettings(), LIMITS)
    (letter,) = log.dead_letters([dlq])
    log.put_back([letter])
    back = read_all(original, partition_for_key(b"order-7", 6))
    assert len(back) == 1
    assert back[0].key() == b"order-7"
    assert back[0].value() == b'{"n": 1}'
    assert back[0].headers() == [
        ("event_id", (letter.record.header("event_id") or "").encode()),
        ("correlation_id", b"c-1"),
    ]
    assert DeadLetter(letter.record).original_topic == original


def read_all(topic: str, partition: int) -> list[Message]:
    consumer = Consumer(
        {
            "bootstrap.servers": layout.KAFKA_BOOTSTRAP,
            "group.id": f"ops-log-test-{uuid.uuid4().hex}",
            "enable.partition.eof": True,
        }
    )
    consumer.assign([TopicPartition(topic, partition, 0)])
    found: list[Message] = []
    try:
        while True:
            message = consumer.poll(10)
            assert message is not None, "the end of the partition never came"
            if message.error() is not None:
                break  # end of the partition
            found.append(message)
    finally:
        consumer.close()
    return found
