"""Shared fixtures. Integration and e2e tests need the real engines that `make test` starts
(through `make up`); they fail loudly, never skip, when those are missing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import cli, postgres


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Chaos rounds last: they kill and restart processes of the stack every other test uses
    (and leave it healthy, but a test of timings or alerts is best not run just after)."""
    items.sort(key=lambda item: item.get_closest_marker("chaos") is not None)


@pytest.fixture(scope="session")
def engines() -> None:
    """PostgreSQL and Kafka as `make up` runs them."""
    missing = [
        name
        for name, ready in (("postgres", postgres.is_ready), ("kafka", cli.kafka_ready))
        if not ready()
    ]
    if missing:
        pytest.fail(f"{', '.join(missing)} not running: run the suite with `make test`")


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where a test's processes write their logs."""
    return tmp_path


@pytest.fixture
def aggregate_type() -> str:
    """A fresh aggregate type, hence a fresh topic, per test."""
    return f"test{uuid.uuid4().hex[:10]}"


@pytest.fixture
def scratch_db(engines: None) -> Iterator[str]:
    """A throw-away database with the messaging tables (libpq URL)."""
    from tests.support import scratch_database

    with scratch_database() as url:
        yield url
