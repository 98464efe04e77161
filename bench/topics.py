"""Kafka topics a benchmark makes for itself, deleted when it ends (however it ends): a relay run
writes 100,000 events to each, which would otherwise stay on the broker's disk for a week."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from confluent_kafka import KafkaException

from servicekit.messaging.kafka import admin_client, ensure_topics
from servicekit.settings import KafkaSettings

TIMEOUT_SECONDS = 30.0


@contextmanager
def scratch_topics(kafka: KafkaSettings, names: list[str]) -> Iterator[list[str]]:
    """Create ``names`` for one run and delete them afterwards."""
    ensure_topics(kafka, names)
    try:
        yield names
    finally:
        admin = admin_client(kafka)
        requests = admin.delete_topics(
            names, operation_timeout=TIMEOUT_SECONDS, request_timeout=TIMEOUT_SECONDS
        )
        for name, request in requests.items():
            try:
                request.result(timeout=TIMEOUT_SECONDS)
            except KafkaException as exc:
                # stdout carries the benchmark's JSON: the warning goes to stderr.
                print(f"bench: topic {name} not deleted: {exc}", file=sys.stderr)
