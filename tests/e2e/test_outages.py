"""Outages of the engines under the running platform: nothing may go quietly out of service.

A consumer whose broker is away when it starts, or a broker and a database restarting together
under load, must end with every service consuming again and every accepted saga finished.
These tests stop and start the real Kafka and PostgreSQL of `make test`, and leave everything
running and routable when they end.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack import layout, supervisor
from devstack.cli import wait_ready
from tests.e2e.conftest import GATEWAY, User
from tests.e2e.saga_support import (
    FINAL,
    create_product,
    order,
    place_order,
    wait_order,
    wait_routable,
)
from tests.support import wait_for

pytestmark = pytest.mark.e2e

# The services that consume events (auth_service only emits, ops_service neither).
CONSUMERS = [s for s in layout.SERVICES if s.package not in ("auth_service", "ops_service")]


def _log(package: str) -> Path:
    return layout.LOG_DIR / f"{package}.log"


def _log_since(package: str, offset: int) -> str:
    path = _log(package)
    with path.open("rb") as log:
        if path.stat().st_size >= offset:
            log.seek(offset)
        return log.read().decode(errors="replace")


def _health(port: int) -> dict[str, object] | None:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
    except httpx.HTTPError:
        return None
    body: dict[str, object] = response.json()
    return body


def _all_consuming() -> bool:
    return all((_health(s.port) or {}).get("status") == "ok" for s in CONSUMERS)


@pytest.fixture
def platform_restored() -> Iterator[None]:
    """Whatever happens in the test, Kafka and PostgreSQL run again afterwards and every
    service is healthy and routable before the next test starts."""
    yield
    for engine in ("postgres", "kafka"):
        supervisor.start(engine)
        wait_ready(engine)
    for service in layout.SERVICES:
        supervisor.start(service.package)
    wait_for(_all_consuming, timeout=180, what="every service consuming again")
    for service in layout.SERVICES:
        wait_routable(service.package)


def test_services_started_while_kafka_is_down_consume_once_it_is_back(
    api: httpx.Client, admin: User, customer: User, platform_restored: None
) -> None:
    product = create_product(api, admin, stock=5)
    offsets = {s.package: _log(s.package).stat().st_size for s in CONSUMERS}
    rpc = supervisor.rpc()
    rpc.stopProcess("kafka", True)
    try:
        for service in CONSUMERS:
            rpc.stopProcess(service.package, True)
            rpc.startProcess(service.package, False)
        # Each consumer met the outage: it could not even fetch the topics' metadata.
        wait_for(
            lambda: all(
                "consumer_failed" in _log_since(s.package, offsets[s.package]) for s in CONSUMERS
            ),
            timeout=120,
            what="every consumer to fail against the stopped broker",
        )
        for service in CONSUMERS:
            health = _health(service.port)
            assert health is not None, f"{service.package} must keep serving during the outage"
            assert health["status"] == "unavailable"  # and say it does not consume
    finally:
        supervisor.start("kafka")
        wait_ready("kafka")
    wait_for(_all_consuming, timeout=120, what="every service consuming after Kafka is back")
    for service in CONSUMERS:
        info = rpc.getProcessInfo(service.package)
        assert info["statename"] == "RUNNING", info  # recovered in place, not by a crash loop
        wait_routable(service.package)
    placed = place_order(api, customer, [(product, 1)])
    assert placed.status_code == 202, placed.text
    final = wait_order(
        api, customer, placed.json()["order_id"], until=lambda o: o["status"] in FINAL
    )
    assert final["status"] == "CONFIRMED", final


def test_kafka_and_postgres_restarting_together_under_load_finish_every_saga(
    api: httpx.Client, admin: User, customer: User, platform_restored: None
) -> None:
    product = create_product(api, admin, stock=10_000)
    accepted: list[str] = []
    stop = threading.Event()

    def place_orders() -> None:
        body = {"items": [{"product_id": product, "quantity": 1}]}
        with httpx.Client(base_url=GATEWAY, timeout=10) as client:
            while not stop.is_set():
                try:
                    response = client.post("/api/orders", headers=customer.auth, json=body)
                except httpx.HTTPError:
                    response = None
                if response is not None and response.status_code == 202:
                    accepted.append(response.json()["order_id"])
                stop.wait(0.1)

    load = threading.Thread(target=place_orders, name="order-load")
    load.start()
    try:
        wait_for(lambda: len(accepted) >= 10, timeout=60, what="orders before the outage")
        rpc = supervisor.rpc()
        rpc.stopProcess("kafka", False)
        rpc.stopProcess("postgres", True)
        wait_for(
            lambda: rpc.getProcessInfo("kafka")["statename"] == "STOPPED",
            timeout=90,
            what="kafka to stop",
        )
        before = len(accepted)
        for engine in ("postgres", "kafka"):
            supervisor.start(engine)
        for engine in ("postgres", "kafka"):
            wait_ready(engine)
        wait_for(lambda: len(accepted) >= before + 20, timeout=120, what="orders after the outage")
    finally:
        stop.set()
        load.join(30)
    wait_for(_all_consuming, timeout=120, what="every service consuming again")
    for order_id in accepted:  # every accepted saga finishes (wait_order fails otherwise)
        wait_order(api, customer, order_id, until=lambda o: o["status"] in FINAL, timeout=120)
    # Consuming again means sagas confirm again, not only time out.
    placed = place_order(api, customer, [(product, 1)])
    assert placed.status_code == 202, placed.text
    final = wait_order(
        api, customer, placed.json()["order_id"], until=lambda o: o["status"] in FINAL
    )
    assert final["status"] == "CONFIRMED", order(api, customer, placed.json()["order_id"])
