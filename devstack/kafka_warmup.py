"""Warm a freshly started broker before the services use it.

A Kafka broker runs interpreted until the JVM's JIT compilers have compiled its request path,
and that takes requests, not time: measured with the saga benchmark, the first minute of orders
after a start cost Kafka 8.1-8.4 ms of CPU each against 4.9 ms minutes later, and the saga's p99
was 535-1,012 ms against 177 ms (docs/performance.md). ``make up`` therefore sends the kinds of
request a saga sends - idempotent acks=all produce requests of small batches, read_committed
fetches by a consumer group, offset commits - for ``KAFKA_WARMUP_SECONDS`` right after it starts
Kafka, before the services start and while nothing else competes for the cores. A broker that
was already running is not warmed again.

The messages go to a topic of their own (``devstack.warmup``, one minute of retention) that no
service reads; each carries the headers the relay sets, so the broker handles the same shape of
record batch.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, Producer

from servicekit.messaging.kafka import consumer_config, ensure_topics, producer_config
from servicekit.settings import KafkaSettings

TOPIC = "devstack.warmup"
# A group of its own per warm-up: offsets an earlier one committed point at messages the minute of
# retention has removed, and reading from them would only log resets.
GROUP_PREFIX = "devstack-warmup"
# Every consumer group of the platform reads with its own member; a few members make the
# coordinator and the fetch path serve several sessions at once, as they do under a saga.
CONSUMERS = 3
# Produce requests in flight at once: enough to keep the broker's threads busy on 2 cores,
# few enough that each request carries only a handful of records, as the relay's do.
IN_FLIGHT = 8
PAYLOAD = b"x" * 300  # about the size of an event envelope
# The consumers read what is produced from when they join, not what an earlier warm-up left.
LATEST: dict[str, Any] = {"auto.offset.reset": "latest"}
# How long the consumers may take to join their group before the clock starts.
JOIN_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Report:
    """What a warm-up sent and read."""

    seconds: float
    produced: int
    consumed: int
    group: str


def warm_up(kafka: KafkaSettings, seconds: float) -> Report:
    """Produce, fetch and commit on the warm-up topic for ``seconds``."""
    ensure_topics(kafka, [TOPIC], config={"retention.ms": "60000"})
    group = f"{GROUP_PREFIX}-{uuid.uuid4().hex[:12]}"
    producer = Producer(producer_config(kafka, client_id="warmup", **{"linger.ms": 0}))
    consumers = [
        Consumer(
            consumer_config(
                kafka,
                group_id=group,
                client_id=f"warmup-{n}",
                **LATEST,
            )
        )
        for n in range(CONSUMERS)
    ]
    for consumer in consumers:
        consumer.subscribe([TOPIC])
    _wait_for_assignments(consumers, timeout=JOIN_TIMEOUT_SECONDS)
    pending = 0
    produced = consumed = 0

    def delivered(err: Any, _msg: Any) -> None:
        nonlocal pending, produced
        pending -= 1
        if err is None:
            produced += 1

    started = time.monotonic()
    deadline = started + seconds
    sequence = 0
    try:
        while time.monotonic() < deadline:
            while pending < IN_FLIGHT:
                sequence += 1
                producer.produce(
                    TOPIC,
                    key=str(sequence % 97).encode(),
                    value=PAYLOAD,
                    headers=[("event_type", b"warmup.ping"), ("event_id", uuid.uuid4().bytes)],
                    on_delivery=delivered,
                )
                pending += 1
            producer.poll(0.001)
            for consumer in consumers:
                message = consumer.poll(0)
                if message is not None and message.error() is None:
                    consumed += 1
                    consumer.store_offsets(message)
                    if consumed % 8 == 0:
                        consumer.commit(asynchronous=True)
        producer.flush(10)
    finally:
        for consumer in consumers:
            consumer.close()
    return Report(
        seconds=time.monotonic() - started, produced=produced, consumed=consumed, group=group
    )


def _wait_for_assignments(consumers: list[Consumer], timeout: float) -> None:
    """Poll until every consumer has partitions (the group has settled), or ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for consumer in consumers:
            consumer.poll(0.05)
        if all(consumer.assignment() for consumer in consumers):
            return
