"""The HA topology (`make up TOPOLOGY=ha`) under faults: losing any one process costs no saga and
no client error.

Orders are placed through the gateway at a steady rate, each with an Idempotency-Key and no
client-side retry, while a Kafka node or one instance of every service is killed with SIGKILL.
Every order must be accepted and confirmed (stock and price leave no other outcome), so a saga
stalled past the saga timeout shows up as a cancelled order. The tests skip on the single
topology, and leave the stack whole: every killed process is restarted by the supervisor and
waited for.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pytest
from confluent_kafka.admin import AdminClient

from devstack import layout, supervisor, topology
from devstack.cli import wait_ready
from tests.e2e.conftest import GATEWAY, User
from tests.e2e.saga_support import FINAL, create_product, order, place_order
from tests.support import wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        topology.read_topology() != topology.HA,
        reason="needs the HA topology: `make test-ha` (the last round of `make test`) runs it",
    ),
]

ORDER_INTERVAL_SECONDS = 0.1  # 10 orders per second


@dataclass
class Load:
    """Orders placed in a background thread until stopped; what each request answered."""

    api: httpx.Client
    user: User
    product_id: str
    accepted: list[tuple[str, float]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        """Place one order per interval, never retrying on the client side."""
        next_at = time.monotonic()
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                response = place_order(
                    self.api,
                    self.user,
                    [(self.product_id, 1)],
                    **{"Idempotency-Key": str(uuid.uuid4())},
                )
            except httpx.HTTPError as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")
            else:
                if response.status_code in (200, 201, 202):
                    self.accepted.append((response.json()["order_id"], started))
                else:
                    self.failures.append(f"{response.status_code}: {response.text[:200]}")
            next_at += ORDER_INTERVAL_SECONDS
            self.stop.wait(max(0.0, next_at - time.monotonic()))


def under_load(api: httpx.Client, user: User, product_id: str, fault: Callable[[], None]) -> Load:
    """Run the load, inject ``fault`` a couple of seconds in, keep the load on a while longer."""
    load = Load(api, user, product_id)
    thread = threading.Thread(target=load.run, name="order-load")
    thread.start()
    try:
        wait_for(lambda: len(load.accepted) >= 20, what="load running")
        fault()
        accepted_at_fault = len(load.accepted)
        wait_for(lambda: len(load.accepted) >= accepted_at_fault + 80, timeout=60, what="load")
    finally:
        load.stop.set()
        thread.join(30)
    return load


def settle(api: httpx.Client, load: Load) -> dict[str, str]:
    """Wait until every accepted order is final; their final states."""
    states: dict[str, str] = {}

    def all_final() -> bool:
        for order_id, _ in load.accepted:
            if order_id not in states:
                status = order(api, load.user, order_id)["status"]
                if status in FINAL:
                    states[order_id] = status
        return len(states) == len(load.accepted)

    wait_for(all_final, timeout=120, interval=0.5, what="every accepted order final")
    return states


def kill9(program: str) -> None:
    """SIGKILL one supervised process; the supervisor starts it again."""
    supervisor.rpc().signalProcess(program, "KILL")


def busiest_kafka_node() -> int:
    """The node leading the most partitions of the saga's topics."""
    metadata = AdminClient(
        {"bootstrap.servers": topology.kafka_bootstrap(topology.HA)}
    ).list_topics(timeout=10)
    leads: dict[int, int] = {}
    for name in ("order.events", "stock_reservation.events", "payment.events"):
        for partition in metadata.topics[name].partitions.values():
            leads[partition.leader] = leads.get(partition.leader, 0) + 1
    return max(leads, key=lambda node: leads[node])


@pytest.fixture
def stock_for_load(api: httpx.Client, admin: User) -> str:
    """A product with stock for every order of a run."""
    return create_product(api, admin, stock=100_000, price="1.00")


def test_killing_a_kafka_node_under_load_loses_no_saga(
    api: httpx.Client, customer: User, stock_for_load: str
) -> None:
    node = busiest_kafka_node()
    program = f"kafka-{node}"
    try:
        load = under_load(api, customer, stock_for_load, lambda: kill9(program))
        states = settle(api, load)
    finally:
        wait_ready(program, topology.HA)
    assert load.failures == []
    assert set(states.values()) == {"CONFIRMED"}, {
        s: list(states.values()).count(s) for s in set(states.values())
    }


def test_killing_one_instance_of_every_service_under_load_costs_no_client_error(
    api: httpx.Client, customer: User, stock_for_load: str
) -> None:
    victims = [f"{service.package}-1" for service in layout.SERVICES]

    def kill_all() -> None:
        for program in victims:
            kill9(program)

    try:
        load = under_load(api, customer, stock_for_load, kill_all)
        states = settle(api, load)
    finally:
        for program in victims:
            wait_ready(program, topology.HA)
    assert load.failures == []
    assert set(states.values()) == {"CONFIRMED"}


def test_every_instance_is_registered_in_both_eureka_peers() -> None:
    for host, port in topology.EUREKA_PEERS:
        response = httpx.get(
            f"http://{host}:{port}/eureka/apps",
            auth=(layout.EUREKA_USERNAME, layout.EUREKA_PASSWORD),
            headers={"Accept": "application/json"},
            timeout=5,
        )
        assert response.status_code == 200
        apps = {
            app["name"]: len(app["instance"])
            for app in response.json()["applications"]["application"]
        }
        for service in layout.SERVICES:
            assert apps.get(service.package.replace("_", "-").upper(), 0) >= 2, (port, apps)


def test_both_gateways_serve_the_port() -> None:
    pids = {
        info["pid"]
        for info in supervisor.process_info()
        if info["name"].startswith("gateway-") and info["statename"] == "RUNNING"
    }
    assert len(pids) == 2
    assert httpx.get(f"{GATEWAY}/health", timeout=5).status_code == 200
