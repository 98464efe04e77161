"""Sagas in flight, read from the orders table when Prometheus scrapes order_service.

A gauge kept in memory (up on order.created, down on the outcome), or the difference of two
counters, starts again from zero when the process restarts and is wrong from then on; the
orders table is the truth. On a scrape, at most once per ``cache_seconds``, one query counts the
orders still in a saga (PENDING or STOCK_RESERVED: an index-only scan of ``orders_status``)
and finds the oldest. When the database does not answer, the scrape
carries neither series (an old value would look current) and the failure is counted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from servicekit.logging import get_logger

log = get_logger(__name__)

IN_FLIGHT = ("PENDING", "STOCK_RESERVED")

# Bounded: a scrape never waits on a slow database for longer than this.
_QUERY = text(
    """
    SELECT status, count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)
    FROM orders
    WHERE status IN ('PENDING', 'STOCK_RESERVED')
    GROUP BY status
    """
)
_STATEMENT_TIMEOUT = text("SET LOCAL statement_timeout = '2s'")

READ_FAILURES = Counter(
    "saga_gauge_read_failures_total",
    "Scrapes whose sagas-in-flight count could not be read from the database.",
)


@dataclass(frozen=True, slots=True)
class InFlight:
    """What one read found: orders per in-flight status, and the age of the oldest."""

    by_status: dict[str, int]
    oldest_age_seconds: float


@dataclass(eq=False)  # registries keep collectors in a dict: hashed by identity
class SagasInFlightCollector(Collector):
    """``sagas_in_flight{status}`` and ``saga_oldest_in_flight_age_seconds`` from the database."""

    engine: Engine
    cache_seconds: float = 2.0
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _last: InFlight | None = field(default=None, init=False)
    _read_at: float = field(default=float("-inf"), init=False)

    def describe(self) -> list[Any]:
        """No samples at registration: describing must not query the database."""
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Both gauges, from a read at most ``cache_seconds`` old."""
        in_flight = self._current()
        if in_flight is None:
            return
        sagas = GaugeMetricFamily(
            "sagas_in_flight",
            "Orders whose saga has not finished (PENDING or STOCK_RESERVED), from the database.",
            labels=["status"],
        )
        for status in IN_FLIGHT:
            sagas.add_metric([status], in_flight.by_status.get(status, 0))
        yield sagas
        yield GaugeMetricFamily(
            "saga_oldest_in_flight_age_seconds",
            "Age of the oldest order still in its saga (0 when none): past the saga timeout, "
            "the timeout sweeper is not keeping up.",
            value=in_flight.oldest_age_seconds,
        )

    def read(self) -> InFlight:
        """Count the in-flight orders now (one short read-only transaction)."""
        with self.engine.connect() as connection, connection.begin():
            connection.execute(_STATEMENT_TIMEOUT)
            rows = connection.execute(_QUERY).all()
        return InFlight(
            by_status={status: int(count) for status, count, _ in rows},
            oldest_age_seconds=max((float(age) for _, _, age in rows), default=0.0),
        )

    def _current(self) -> InFlight | None:
        with self._lock:
            if time.monotonic() - self._read_at >= self.cache_seconds:
                try:
                    self._last = self.read()
                except SQLAlchemyError as exc:
                    READ_FAILURES.inc()
                    log.warning("sagas_in_flight_unavailable", error=type(exc).__name__)
                    self._last = None
                self._read_at = time.monotonic()
            return self._last


_installed: dict[int, SagasInFlightCollector] = {}


def install(
    engine: Engine, *, registry: CollectorRegistry = REGISTRY, cache_seconds: float = 2.0
) -> SagasInFlightCollector:
    """Register the collector for ``engine``, replacing one an earlier app of this process
    registered (tests build several apps; a registry refuses the same metric twice)."""
    previous = _installed.pop(id(registry), None)
    if previous is not None:
        registry.unregister(previous)
    collector = SagasInFlightCollector(engine, cache_seconds=cache_seconds)
    registry.register(collector)
    _installed[id(registry)] = collector
    return collector
