"""sagas_in_flight and the oldest saga's age, counted in a real order_service database
(order_service/adapters/saga_gauge.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from sqlalchemy import Engine, create_engine, text

from order_service.adapters.saga_gauge import install
from tests.support import free_port, scratch_database, sqlalchemy_url

INSERT = text(
    """
    INSERT INTO orders (order_id, customer_id, status, payment_status, inventory_status,
                        currency, total, deadline_at, created_at)
    VALUES (:order_id, :customer_id, :status, 'PENDING', 'PENDING', 'BRL', 10, :deadline,
            :created_at)
    """
)


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    """An engine on a throw-away database at order_service's migrations head."""
    with scratch_database("saga_gauge", migrations="order_service") as url:
        engine = create_engine(sqlalchemy_url(url))
        yield engine
        engine.dispose()


def add_orders(engine: Engine, status: str, count: int, *, age: timedelta) -> None:
    """``count`` orders in ``status``, placed ``age`` ago."""
    created_at = datetime.now(UTC) - age
    with engine.begin() as connection:
        for _ in range(count):
            connection.execute(
                INSERT,
                {
                    "order_id": str(uuid.uuid4()),
                    "customer_id": str(uuid.uuid4()),
                    "status": status,
                    "deadline": created_at + timedelta(seconds=30),
                    "created_at": created_at,
                },
            )


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    """One sample of the registry, None when the scrape does not carry it."""
    return registry.get_sample_value(name, labels)


def test_counts_the_orders_still_in_their_saga_and_the_oldest_age(engine: Engine) -> None:
    registry = CollectorRegistry()
    install(engine, registry=registry, cache_seconds=0)
    assert value(registry, "sagas_in_flight", status="PENDING") == 0
    assert value(registry, "sagas_in_flight", status="STOCK_RESERVED") == 0
    assert value(registry, "saga_oldest_in_flight_age_seconds") == 0

    add_orders(engine, "PENDING", 3, age=timedelta(seconds=5))
    add_orders(engine, "STOCK_RESERVED", 2, age=timedelta(minutes=4))
    for finished in ("CONFIRMED", "CANCELLED", "REJECTED"):
        add_orders(engine, finished, 4, age=timedelta(hours=1))

    assert value(registry, "sagas_in_flight", status="PENDING") == 3
    assert value(registry, "sagas_in_flight", status="STOCK_RESERVED") == 2
    oldest = value(registry, "saga_oldest_in_flight_age_seconds")
    assert oldest is not None and 240 <= oldest < 300


def test_a_restarted_process_sees_the_same_count(engine: Engine) -> None:
    before = CollectorRegistry()
    install(engine, registry=before, cache_seconds=0)
    counted = value(before, "sagas_in_flight", status="PENDING")
    # A new process: nothing carried over in memory, the database still knows.
    restarted = create_engine(engine.url)
    after = CollectorRegistry()
    install(restarted, registry=after, cache_seconds=0)
    assert value(after, "sagas_in_flight", status="PENDING") == counted
    restarted.dispose()


def test_installing_again_replaces_the_collector(engine: Engine) -> None:
    registry = CollectorRegistry()
    install(engine, registry=registry)
    install(engine, registry=registry)
    exposition = generate_latest(registry).decode()
    assert exposition.count('sagas_in_flight{status="PENDING"}') == 1


def test_a_read_serves_the_scrapes_of_its_cache_period(engine: Engine) -> None:
    registry = CollectorRegistry()
    install(engine, registry=registry, cache_seconds=3600)
    first = value(registry, "sagas_in_flight", status="PENDING")
    assert first is not None
    add_orders(engine, "PENDING", 1, age=timedelta(seconds=1))
    assert value(registry, "sagas_in_flight", status="PENDING") == first
    fresh = CollectorRegistry()
    install(engine, registry=fresh, cache_seconds=0)
    assert value(fresh, "sagas_in_flight", status="PENDING") == first + 1


def test_no_series_when_the_database_does_not_answer() -> None:
    unreachable = create_engine(
        f"postgresql+psycopg2://nobody:nothing@127.0.0.1:{free_port()}/none",
        connect_args={"connect_timeout": 2},
    )
    registry = CollectorRegistry()
    install(unreachable, registry=registry, cache_seconds=0)
    failures_before = _failures()
    assert value(registry, "sagas_in_flight", status="PENDING") is None
    assert value(registry, "saga_oldest_in_flight_age_seconds") is None
    assert _failures() > failures_before


def _failures() -> float:
    return float(REGISTRY.get_sample_value("saga_gauge_read_failures_total") or 0.0)
