"""Kafka's own command-line tools through the wrappers in infra/bin (installed by `make up` at
the broker's version), against the local broker, run from a directory outside the repository."""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

from servicekit.messaging.kafka import admin_client
from servicekit.settings import KafkaSettings
from tests.support import REPO

BIN = REPO / "infra" / "bin"
MESSAGES = 6


def run(tool: str, *args: str, cwd: Path) -> str:
    """A wrapper's standard output; fails the test with its stderr when it fails."""
    result = subprocess.run(
        [str(BIN / tool), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"{tool} {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def topic() -> Iterator[str]:
    """A new 2-partition topic holding MESSAGES records with keys and platform-style headers."""
    kafka = KafkaSettings()
    name = f"test-tools-{uuid.uuid4().hex[:12]}"
    admin = admin_client(kafka)
    admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1)])[name].result(
        timeout=15
    )
    producer = Producer({"bootstrap.servers": kafka.bootstrap_servers})
    for index in range(MESSAGES):
        producer.produce(
            name,
            key=f"order-{index}",
            value=f'{{"n": {index}}}',
            partition=index % 2,
            headers=[("event_type", "test.recorded"), ("correlation_id", f"cid-{index}")],
        )
    assert producer.flush(15) == 0
    yield name
    admin.delete_topics([name], operation_timeout=15)[name].result(timeout=15)


def test_kafka_topics_lists_and_describes_from_any_directory(topic: str, tmp_path: Path) -> None:
    listed = run("kafka-topics", "--list", cwd=tmp_path).split()
    assert "order.events" in listed
    assert topic in listed
    # An explicit --bootstrap-server is passed through instead of the default.
    described = run(
        "kafka-topics",
        "--bootstrap-server",
        "localhost:9092",
        "--describe",
        "--topic",
        topic,
        cwd=tmp_path,
    )
    assert "PartitionCount: 2" in described


def test_kafka_console_consumer_prints_time_partition_offset_headers_and_key(
    topic: str, tmp_path: Path
) -> None:
    out = run(
        "kafka-console-consumer",
        "--topic",
        topic,
        "--from-beginning",
        "--max-messages",
        str(MESSAGES),
        "--timeout-ms",
        "30000",
        cwd=tmp_path,
    )
    line = re.compile(
        r"CreateTime:\d+\s+Partition:(\d)\s+Offset:(\d+)\s+"
        r"event_type:test\.recorded,correlation_id:cid-(\d)\s+order-(\d)\s+\{\"n\": (\d)\}"
    )
    records = [line.fullmatch(text.strip()) for text in out.splitlines() if text.strip()]
    assert len(records) == MESSAGES and all(records), out
    seen = {(int(m[4]), int(m[1]), int(m[2])) for m in records if m}
    # Record i went to partition i % 2, at offset i // 2 there; its header and key match it.
    assert seen == {(i, i % 2, i // 2) for i in range(MESSAGES)}
    assert all(m[3] == m[4] == m[5] for m in records if m)


def test_kafka_consumer_groups_shows_the_lag(topic: str, tmp_path: Path) -> None:
    group = f"test-tools-{uuid.uuid4().hex[:8]}"
    consumer = Consumer({"bootstrap.servers": KafkaSettings().bootstrap_servers, "group.id": group})
    consumer.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)
    consumer.close()

    out = run("kafka-consumer-groups", "--describe", "--group", group, cwd=tmp_path)

    header = next(text.split() for text in out.splitlines() if "LAG" in text.split())
    rows = [dict(zip(header, text.split(), strict=False)) for text in out.splitlines()]
    row = next(r for r in rows if r.get("TOPIC") == topic and r.get("PARTITION") == "0")
    # Partition 0 holds 3 records (0, 2, 4); the group committed 1.
    assert (row["CURRENT-OFFSET"], row["LOG-END-OFFSET"], row["LAG"]) == ("1", "3", "2")
