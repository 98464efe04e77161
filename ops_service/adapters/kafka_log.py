"""Kafka as operators read and re-drive it: one key's messages without scanning whole topics,
the dead-letter topics, and putting dead letters back.

Each read stops at each partition's end offset as it was when the call began, within bounds of
messages and seconds (kafka_reading.py). Offsets come from the broker in one batched request per
kind: earliest, latest, or by time from the time index.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from ops_service.adapters.kafka_reading import Partition, ReadBounds, read_ranges
from ops_service.adapters.partitioner import partition_for_key
from ops_service.application.ports import DependencyUnavailable, KeyedMessages
from ops_service.domain.model import DLQ_SUFFIX, DeadLetter, in_time_order
from servicekit.messaging.kafka import KafkaHeaders, admin_client, producer_config
from servicekit.settings import KafkaSettings


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
        found, truncated = read_ranges(
            self.kafka, ranges, keep=lambda record: record.key == wanted, bounds=self.limits.trace
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
        found, truncated = read_ranges(self.kafka, ranges, keep=lambda _: True, bounds=bounds)
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
