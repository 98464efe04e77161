"""Consumer lag per group and partition, read from Kafka when Prometheus scrapes the relay.

For each consumer group whose name matches ``RELAY_LAG_GROUPS``, the committed offset of every
partition it has committed on (AdminClient.list_consumer_group_offsets) and that partition's end
offset (AdminClient.list_offsets, latest) give the messages still to consume. The relay serves
them because it already talks to Kafka and already serves /metrics; Debian, PyPI and Maven
Central have no well-kept Kafka lag exporter to run instead.

Collection runs on the scrape, at most once per ``cache_seconds`` (concurrent scrapes share
one), each Kafka call bounded by ``timeout_seconds``. When Kafka does not answer, the scrape
carries no lag series and ``kafka_consumer_lag_collection_failures_total`` grows: a stale lag
would look like a healthy one.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from servicekit.logging import get_logger

log = get_logger(__name__)

COLLECTION_FAILURES = Counter(
    "kafka_consumer_lag_collection_failures_total",
    "Scrapes whose consumer lag could not be read from Kafka (no lag series that time).",
)

# (group, topic, partition) -> (committed offset, end offset)
Offsets = dict[tuple[str, str, int], tuple[int, int]]


@dataclass(eq=False)  # registries keep collectors in a dict: hashed by identity
class ConsumerLagCollector(Collector):
    """A prometheus_client collector of consumer lag; register it once per process."""

    admin_factory: Callable[[], AdminClient]
    group_pattern: re.Pattern[str]
    cache_seconds: float = 4.0
    timeout_seconds: float = 3.0
    # Bounds the series a scrape can carry, whatever groups and topics appear.
    max_partitions: int = 2000
    _admin: AdminClient | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _offsets: Offsets | None = field(default=None, init=False)
    _read_at: float = field(default=float("-inf"), init=False)

    def describe(self) -> list[Any]:
        """No samples at registration: describing must not call Kafka."""
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The lag, committed and end offsets of every matching group's partitions."""
        offsets = self._current()
        if offsets is None:
            return
        labels = ["group", "topic", "partition"]
        lag = GaugeMetricFamily(
            "kafka_consumer_group_lag_messages",
            "Messages of the partition the group has not committed yet (end - committed offset).",
            labels=labels,
        )
        committed = GaugeMetricFamily(
            "kafka_consumer_group_committed_offset",
            "The group's committed offset of the partition (its rate is the group's throughput).",
            labels=labels,
        )
        end = GaugeMetricFamily(
            "kafka_topic_partition_end_offset",
            "The partition's log end offset (its rate is the produce rate).",
            labels=["topic", "partition"],
        )
        ends: dict[tuple[str, int], int] = {}
        for (group, topic, partition), (offset, end_offset) in sorted(offsets.items()):
            values = [group, topic, str(partition)]
            lag.add_metric(values, max(end_offset - offset, 0))
            committed.add_metric(values, offset)
            ends[(topic, partition)] = end_offset
        for (topic, partition), end_offset in sorted(ends.items()):
            end.add_metric([topic, str(partition)], end_offset)
        yield lag
        yield committed
        yield end

    def _current(self) -> Offsets | None:
        with self._lock:
            if time.monotonic() - self._read_at < self.cache_seconds:
                return self._offsets
            try:
                self._offsets = self._read()
            except (KafkaException, TimeoutError, RuntimeError) as exc:
                COLLECTION_FAILURES.inc()
                log.warning("consumer_lag_unavailable", error=str(exc) or type(exc).__name__)
                self._offsets = None
                # A client that timed out across a broker restart was seen to keep timing out
                # for minutes; the next scrape starts from a new one.
                self._admin = None
            self._read_at = time.monotonic()
            return self._offsets

    def _read(self) -> Offsets:
        """One round trip per group for committed offsets, then one for every end offset."""
        if self._admin is None:
            self._admin = self.admin_factory()
        admin, timeout = self._admin, self.timeout_seconds
        listed = admin.list_consumer_groups(request_timeout=timeout).result(timeout=timeout)
        groups = sorted(
            g.group_id for g in listed.valid if self.group_pattern.fullmatch(g.group_id)
        )
        # librdkafka takes one group per request: send them all, then wait for each.
        requests = {
            group: admin.list_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(group)], request_timeout=timeout
            )[group]
            for group in groups
        }
        committed: dict[tuple[str, str, int], int] = {}
        for group, request in requests.items():
            for tp in request.result(timeout=timeout).topic_partitions or []:
                if tp.error is None and tp.offset >= 0:  # < 0: nothing committed there yet
                    committed[(group, tp.topic, tp.partition)] = tp.offset
        if len(committed) > self.max_partitions:
            log.warning(
                "consumer_lag_truncated", partitions=len(committed), kept=self.max_partitions
            )
            committed = dict(sorted(committed.items())[: self.max_partitions])
        partitions = {(topic, partition) for _, topic, partition in committed}
        if not partitions:
            return {}
        latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
        requested = admin.list_offsets(
            {TopicPartition(t, p): latest for t, p in sorted(partitions)},
            request_timeout=timeout,
        )
        ends: dict[tuple[str, int], int] = {}
        for tp, request in requested.items():
            try:
                ends[(tp.topic, tp.partition)] = request.result(timeout=timeout).offset
            except KafkaException:
                # A topic deleted since the group committed on it (tests and benchmarks delete
                # theirs): it has no lag to show.
                continue
        return {
            key: (offset, ends[(key[1], key[2])])
            for key, offset in committed.items()
            if (key[1], key[2]) in ends
        }
