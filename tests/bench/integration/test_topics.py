"""The benchmarks' topics are deleted when a run ends, also when it fails (bench/topics.py)."""

from __future__ import annotations

import uuid
from contextlib import nullcontext

import pytest

from bench.topics import scratch_topics
from servicekit.messaging.kafka import admin_client
from servicekit.settings import KafkaSettings
from tests.support import wait_for


def existing(kafka: KafkaSettings, names: list[str]) -> set[str]:
    """Which of ``names`` the broker has."""
    return set(names) & set(admin_client(kafka).list_topics(timeout=10).topics)


@pytest.mark.parametrize("run_fails", [False, True])
def test_topics_exist_during_the_run_and_are_gone_after(run_fails: bool) -> None:
    kafka = KafkaSettings()
    names = [f"benchtest{uuid.uuid4().hex[:8]}.events", f"benchtest{uuid.uuid4().hex[:8]}.x"]

    failure = pytest.raises(RuntimeError) if run_fails else nullcontext()
    with failure, scratch_topics(kafka, names):
        assert existing(kafka, names) == set(names)
        if run_fails:
            raise RuntimeError("the benchmark failed")

    # Deletion is acknowledged by the controller; metadata follows within moments.
    wait_for(lambda: not existing(kafka, names), timeout=15, interval=0.2, what="topics deleted")
