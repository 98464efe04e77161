"""Reading Kafka partitions between two offsets, within bounds: a consumer that is assigned the
partitions (never subscribed, never committing: it joins no group), each partition paused once
read to its end offset."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from ops_service.application.ports import DependencyUnavailable
from ops_service.domain.model import KafkaRecord
from servicekit.messaging.kafka import KafkaHeaders, consumer_config
from servicekit.settings import KafkaSettings

# (topic, partition)
Partition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class ReadBounds:
    """How far one read may go: messages kept, messages read, seconds."""

    max_kept: int
    max_scanned: int
    seconds: float


class _Reading:
    """One read's progress: the partitions still to read (to their end offset), what was
    kept, and how much was read."""

    def __init__(
        self,
        todo: dict[Partition, int],
        keep: Callable[[KafkaRecord], bool],
        bounds: ReadBounds,
    ) -> None:
        self.todo = todo
        self.keep = keep
        self.bounds = bounds
        self.found: dict[Partition, list[KafkaRecord]] = defaultdict(list)
        self.kept = 0
        self.scanned = 0

    def full(self) -> bool:
        """True once a bound of messages is reached."""
        return self.kept >= self.bounds.max_kept or self.scanned >= self.bounds.max_scanned

    def take(self, message: Message) -> Partition | None:
        """Account for one fetched message; the partition if it is now read to its end."""
        where = (message.topic() or "", message.partition() or 0)
        end = self.todo.get(where)
        if end is None:
            return None  # a partition already read to its end
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                raise DependencyUnavailable(f"Kafka: {error.str()}")
            del self.todo[where]  # at the end the partition has now: ours is behind it
            return where
        offset = message.offset() or 0
        if offset < end:
            self.scanned += 1
            record = _record(message)
            if self.keep(record):
                self.found[where].append(record)
                self.kept += 1
        if offset < end - 1:
            return None
        del self.todo[where]
        return where


# A reader, not a member: it stops at the end of each partition and does not wait long for more.
_READER_OVERRIDES: dict[str, Any] = {"enable.partition.eof": True, "fetch.wait.max.ms": 100}


def read_ranges(
    kafka: KafkaSettings,
    ranges: Mapping[Partition, tuple[int, int]],
    *,
    keep: Callable[[KafkaRecord], bool],
    bounds: ReadBounds,
) -> tuple[dict[Partition, list[KafkaRecord]], bool]:
    """The kept messages of each partition in [start, end), in offset order, and whether a
    bound stopped the read before every range was done."""
    reading = _Reading({p: end for p, (start, end) in ranges.items() if start < end}, keep, bounds)
    if not reading.todo:
        return reading.found, False
    consumer = Consumer(
        consumer_config(
            kafka,
            group_id="ops-service-reader",  # required by the client; never joined
            client_id="ops-service-reader",
            **_READER_OVERRIDES,
        )
    )
    deadline = time.monotonic() + bounds.seconds
    try:
        consumer.assign([TopicPartition(t, p, ranges[(t, p)][0]) for t, p in reading.todo])
        while reading.todo and not reading.full():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            for message in _next_batch(consumer, min(remaining, 0.5)):
                if (finished := reading.take(message)) is not None:
                    consumer.pause([TopicPartition(*finished)])
                if reading.full():
                    break
    except KafkaException as exc:
        raise DependencyUnavailable(f"Kafka: {exc}") from exc
    finally:
        consumer.close()
    return reading.found, bool(reading.todo)


def _next_batch(consumer: Consumer, timeout: float) -> list[Message]:
    """Wait for one message, then take whatever else is fetched already, without waiting:
    consume(n, timeout) would wait out the whole timeout for a batch a short read never fills."""
    first = consumer.poll(timeout)
    return [] if first is None else [first, *consumer.consume(499, 0)]


def _record(message: Message) -> KafkaRecord:
    kind, millis = message.timestamp()
    # The stubs type headers() loosely; at run time it is a list of (str, bytes) tuples.
    raw: KafkaHeaders = list(message.headers() or [])  # type: ignore[arg-type]
    headers = [(key, _bytes(value)) for key, value in raw]
    return KafkaRecord(
        topic=message.topic() or "",
        partition=message.partition() or 0,
        offset=message.offset() or 0,
        key=_bytes(message.key()),
        value=_bytes(message.value()),
        headers=tuple(headers),
        timestamp=None
        if kind == TIMESTAMP_NOT_AVAILABLE
        else datetime.fromtimestamp(millis / 1000, UTC),
    )


def _bytes(value: str | bytes | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value
