"""Kafka as operators read and re-drive it: one key's messages without scanning whole topics,
the dead-letter topics, and putting dead letters back.

Reads use a consumer that is assigned partitions and offsets (never subscribed, never
committing: it joins no group) and stop at each partition's end offset as it was when the call
began, within bounds of messages and seconds. Offsets come from the broker in one batched
request per kind (earliest, latest, or by time from the time index).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from ops_service.adapters.partitioner import partition_for_key
from ops_service.application.ports import DependencyUnavailable, KeyedMessages
from ops_service.domain.model import DLQ_SUFFIX, DeadLetter, KafkaRecord, in_time_order
from servicekit.messaging.kafka import (
    KafkaHeaders,
    admin_client,
    consumer_config,
    producer_config,
)
from servicekit.settings import KafkaSettings

# (topic, partition)
Partition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class ReadBounds:
    """How far one read may go: messages kept, messages read, seconds."""

    max_kept: int
    max_scanned: int
    seconds: float


@dataclass(frozen=True, slots=True)
class KafkaLogLimits:
    """The bounds of every read and replay (OpsSettings)."""

    timeout_seconds: float
    trace: ReadBounds
    dlq_per_partition: int
    dlq_seconds: float
    replay_seconds: float


class KafkaLog:
    """The MessageLog port on a Kafka cluster."""

    def __init__(self, kafka: KafkaSettings, limits: KafkaLogLimits) -> None:
        self.kafka = kafka
        self.limits = limits
        self._admin: AdminClient | None = None

    @property
    def admin(self) -> AdminClient:
        """One admin client, made on first use (it connects lazily anyway)."""
        if self._admin is None:
            self._admin = admin_client(self.kafka)
        return self._admin

    # -- the MessageLog port ----------------------------------------------------------------

    def read_keyed(self, topics: Sequence[str], key: str, *, since: datetime) -> KeyedMessages:
        """See MessageLog.read_keyed: the key's partition of each topic, from the first offset
        at or after ``since`` (the broker's time index) to the end offset at the call."""
        wanted = key.encode()
        counts = self._partition_counts(topics)
        partitions = [(topic, partition_for_key(wanted, n)) for topic, n in counts.items()]
        ends = self._offsets(partitions, _latest())
        # -1: no message at or after that time; nothing to read there.
        starts = self._offsets(partitions, _at(since))
        ranges = {p: (starts[p] if starts[p] >= 0 else ends[p], ends[p]) for p in partitions}
        found, truncated = self._read(
            ranges, keep=lambda record: record.key == wanted, bounds=self.limits.trace
        )
        return KeyedMessages(in_time_order(found.values()), truncated)

    def dead_letter_topics(self) -> list[str]:
        """See MessageLog.dead_letter_topics."""
        return sorted(t for t in self._topics() if t.endswith(DLQ_SUFFIX))

    def dead_letters(self, topics: Sequence[str]) -> list[DeadLetter]:
        """See MessageLog.dead_letters: at most dlq_per_partition per partition, the newest."""
        counts = self._partition_counts(topics)
        partitions = [(topic, p) for topic, n in counts.items() for p in range(n)]
        earliest = self._offsets(partitions, _earliest())
        latest = self._offsets(partitions, _latest())
        newest = self.limits.dlq_per_partition
        ranges = {p: (max(earliest[p], latest[p] - newest), latest[p]) for p in partitions}
        bounds = ReadBounds(
            max_kept=newest * len(partitions) + 1,
            max_scanned=newest * len(partitions) + 1,
            seconds=self.limits.dlq_seconds,
        )
        found, truncated = self._read(ranges, keep=lambda _: True, bounds=bounds)
        if truncated:
            raise DependencyUnavailable(
                f"Kafka did not hand over the dead letters within {self.limits.dlq_seconds}s"
            )
        records = sorted((r for rs in found.values() for r in rs), key=lambda r: r.position)
        return [DeadLetter(record) for record in records]

    def put_back(self, letters: Sequence[DeadLetter]) -> None:
        """See MessageLog.put_back: an idempotent producer with acks=all; every delivery report
        arrives within the delivery timeout, which is the replay timeout."""
        bounded = {"delivery.timeout.ms": int(self.limits.replay_seconds * 1000)}
        producer = Producer(producer_config(self.kafka, client_id="ops-service-replay", **bounded))
        reports: list[KafkaError | None] = []
        try:
            for letter in letters:
                producer.produce(
                    letter.original_topic,
                    key=letter.record.key,
                    value=letter.record.value,
                    headers=_headers(letter),
                    on_delivery=lambda error, _message: reports.append(error),
                )
        except (KafkaException, BufferError) as exc:
            producer.flush(self.limits.replay_seconds)
            raise DependencyUnavailable(f"Kafka refused a replayed message: {exc}") from exc
        deadline = time.monotonic() + self.limits.replay_seconds + 5
        while len(reports) < len(letters) and time.monotonic() < deadline:
            producer.flush(1.0)
        failed = [str(error) for error in reports if error is not None]
        if failed or len(reports) < len(letters):
            raise DependencyUnavailable(
                f"Kafka acknowledged {len(reports) - len(failed)} of {len(letters)} replayed "
                f"messages{': ' + failed[0] if failed else ''}"
            )

    # -- reading --------------------------------------------------------------------------

    def _read(
        self,
        ranges: Mapping[Partition, tuple[int, int]],
        *,
        keep: Callable[[KafkaRecord], bool],
        bounds: ReadBounds,
    ) -> tuple[dict[Partition, list[KafkaRecord]], bool]:
        """The kept messages of each partition in [start, end), in offset order, and whether a
        bound stopped the read before every range was done."""
        todo = {p: end for p, (start, end) in ranges.items() if start < end}
        found: dict[Partition, list[KafkaRecord]] = defaultdict(list)
        if not todo:
            return found, False
        consumer = Consumer(
            consumer_config(
                self.kafka,
                group_id="ops-service-reader",  # required by the client; never joined
                client_id="ops-service-reader",
                **{"enable.partition.eof": True, "fetch.wait.max.ms": 100},
            )
        )
        kept = scanned = 0
        deadline = time.monotonic() + bounds.seconds
        try:
            consumer.assign([TopicPartition(t, p, ranges[(t, p)][0]) for t, p in todo])
            while todo and kept < bounds.max_kept and scanned < bounds.max_scanned:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                for message in consumer.consume(500, min(remaining, 0.5)):
                    where = (message.topic() or "", message.partition() or 0)
                    end = todo.get(where)
                    if end is None:
                        continue  # a partition already read to its end
                    error = message.error()
                    if error is not None:
                        if error.code() != KafkaError._PARTITION_EOF:
                            raise DependencyUnavailable(f"Kafka: {error.str()}")
                        del todo[where]  # at the end the partition has now: ours is behind it
                        continue
                    offset = message.offset() or 0
                    if offset < end:
                        scanned += 1
                        record = _record(message)
                        if keep(record):
                            found[where].append(record)
                            kept += 1
                    if offset >= end - 1:
                        del todo[where]
                        consumer.pause([TopicPartition(*where)])
        except KafkaException as exc:
            raise DependencyUnavailable(f"Kafka: {exc}") from exc
        finally:
            consumer.close()
        return found, bool(todo)

    def _topics(self) -> dict[str, int]:
        """Every topic and its partition count."""
        try:
            metadata = self.admin.list_topics(timeout=self.limits.timeout_seconds)
        except KafkaException as exc:
            raise DependencyUnavailable(f"Kafka did not list its topics: {exc}") from exc
        return {name: len(topic.partitions) for name, topic in metadata.topics.items()}

    def _partition_counts(self, topics: Sequence[str]) -> dict[str, int]:
        """The partition count of each of these topics that exists."""
        existing = self._topics()
        return {topic: existing[topic] for topic in topics if existing.get(topic)}

    def _offsets(self, partitions: Sequence[Partition], spec: OffsetSpec) -> dict[Partition, int]:
        """One offset per partition (earliest, latest or by time), in one batched request."""
        if not partitions:
            return {}
        try:
            futures = self.admin.list_offsets(
                {TopicPartition(t, p): spec for t, p in partitions},
                request_timeout=self.limits.timeout_seconds,
            )
            return {
                (tp.topic, tp.partition): int(
                    future.result(timeout=self.limits.timeout_seconds + 1).offset
                )
                for tp, future in futures.items()
            }
        except (KafkaException, TimeoutError) as exc:
            raise DependencyUnavailable(f"Kafka did not give the offsets: {exc}") from exc


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


def _headers(letter: DeadLetter) -> KafkaHeaders:
    return list(letter.replay_headers())


# OffsetSpec's factories carry no annotations.
def _latest() -> OffsetSpec:
    spec: OffsetSpec = OffsetSpec.latest()  # type: ignore[no-untyped-call]
    return spec


def _earliest() -> OffsetSpec:
    spec: OffsetSpec = OffsetSpec.earliest()  # type: ignore[no-untyped-call]
    return spec


def _at(moment: datetime) -> OffsetSpec:
    """The first offset whose timestamp is at or after ``moment`` (-1 when none is)."""
    spec: OffsetSpec = OffsetSpec.for_timestamp(int(moment.timestamp() * 1000))
    return spec
