"""``python -m bench.failover_bench [word...]``: failover figures of `make up TOPOLOGY=ha`.

Each scenario places orders through the gateway at 10/s (an Idempotency-Key each, no client
retry), injects one fault a few seconds in, and reports from the orders themselves: how many
were accepted, the client-visible errors, the 95th percentile and maximum time to accept one
(the POST), and the 95th percentile and maximum saga time (``updated_at - created_at`` of the
confirmed order, both written by order_service). Plus, per scenario, the time the fault took to
heal as seen from outside: the standby relay leading, the killed consumer's partitions owned by
the other instance, the killed Kafka node serving again. One JSON document on stdout.
Figures, not pass/fail; on a shared 2-core machine they are upper bounds.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from confluent_kafka.admin import AdminClient

from devstack import layout, supervisor, topology
from devstack.cli import wait_ready

GATEWAY = f"http://localhost:{layout.GATEWAY_PORT}"
ADMIN = (
    os.environ.get("ADMIN_EMAIL", "admin@example.com"),
    os.environ.get("ADMIN_PASSWORD", "Admin-password-1"),
)
RATE_INTERVAL = 0.1
SECONDS_BEFORE_FAULT = 3.0
SECONDS_AFTER_FAULT = 15.0


def _token(client: httpx.Client, email: str, password: str) -> str:
    response = client.post("/api/auth/login", json={"email": email, "password": password})
    response.raise_for_status()
    return str(response.json()["access_token"])


def _customer(client: httpx.Client) -> str:
    email = f"bench-{uuid.uuid4().hex[:10]}@example.com"
    password = "bench-password-1"  # noqa: S105 - a throw-away benchmark account
    client.post(
        "/api/auth/register", json={"email": email, "password": password, "full_name": "Bench"}
    ).raise_for_status()
    token = _token(client, email, password)
    deadline = time.monotonic() + 60
    while client.get("/api/users/me", headers=_auth(token)).status_code != 200:
        if time.monotonic() > deadline:
            raise SystemExit("the customer's profile never appeared")
        time.sleep(0.2)
    return token


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _product(client: httpx.Client, admin: str) -> str:
    sku = f"BENCH-{uuid.uuid4().hex[:8].upper()}"
    response = client.post(
        "/api/products",
        headers=_auth(admin),
        json={
            "sku": sku,
            "name": sku,
            "description": "bench",
            "price": "1.00",
            "currency": "EUR",
            "stock": 100_000,
        },
    )
    response.raise_for_status()
    time.sleep(3)  # the order side's read model of the catalog follows product.created
    return str(response.json()["product_id"])


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_scenario(
    name: str, client: httpx.Client, token: str, product: str, fault: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """Orders before, during and after one fault; what they and the fault's healing show."""
    accepted: list[str] = []
    accept_seconds: list[float] = []
    errors: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=GATEWAY, timeout=30) as own:
            next_at = time.monotonic()
            while not stop.is_set():
                started = time.monotonic()
                try:
                    response = own.post(
                        "/api/orders",
                        headers={**_auth(token), "Idempotency-Key": str(uuid.uuid4())},
                        json={"items": [{"product_id": product, "quantity": 1}]},
                    )
                except httpx.HTTPError as exc:
                    errors.append(type(exc).__name__)
                else:
                    if response.status_code in (200, 201, 202):
                        accepted.append(response.json()["order_id"])
                        accept_seconds.append(time.monotonic() - started)
                    else:
                        errors.append(str(response.status_code))
                next_at += RATE_INTERVAL
                stop.wait(max(0.0, next_at - time.monotonic()))

    thread = threading.Thread(target=load)
    thread.start()
    time.sleep(SECONDS_BEFORE_FAULT)
    healing = fault()
    time.sleep(SECONDS_AFTER_FAULT)
    stop.set()
    thread.join()
    saga_seconds: list[float] = []
    outcomes: dict[str, int] = {}
    deadline = time.monotonic() + 120
    pending = list(accepted)
    while pending and time.monotonic() < deadline:
        still = []
        for order_id in pending:
            body = client.get(f"/api/orders/{order_id}", headers=_auth(token)).json()
            if body["status"] in ("CONFIRMED", "REJECTED", "CANCELLED"):
                outcomes[body["status"]] = outcomes.get(body["status"], 0) + 1
                created = datetime.fromisoformat(body["created_at"].replace("Z", "+00:00"))
                updated = datetime.fromisoformat(body["updated_at"].replace("Z", "+00:00"))
                saga_seconds.append((updated - created).total_seconds())
            else:
                still.append(order_id)
        pending = still
        time.sleep(0.5)
    return {
        "scenario": name,
        "orders_accepted": len(accepted),
        "client_errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "outcomes": outcomes,
        "not_final_after_120s": len(pending),
        "accept_p95_seconds": round(_percentile(accept_seconds, 0.95), 3),
        "accept_max_seconds": round(max(accept_seconds, default=0.0), 3),
        "saga_p95_seconds": round(_percentile(saga_seconds, 0.95), 3),
        "saga_max_seconds": round(max(saga_seconds, default=0.0), 3),
        "saga_median_seconds": round(statistics.median(saga_seconds), 3) if saga_seconds else 0,
        # Filled in by the fault, some of it later (a node serving again): read after the join.
        "fault": healing,
    }


def _relay_states(port: int) -> dict[str, str]:
    try:
        body = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json()
    except (httpx.HTTPError, ValueError):
        return {}
    return dict(body.get("databases", {}))


def sigstop_relay_leader() -> dict[str, Any]:
    """SIGSTOP the relay leading order_service's database; until the other one leads it."""
    ports = dict(enumerate(topology.RELAY_HA_PORTS, start=1))
    leader = next(i for i, port in ports.items() if _relay_states(port).get("order") == "leader")
    standby_port = ports[3 - leader]
    program = f"outbox_relay-{leader}"
    stopped_at = time.monotonic()
    supervisor.rpc().signalProcess(program, "STOP")
    while _relay_states(standby_port).get("order") != "leader":
        time.sleep(0.05)
    takeover = time.monotonic() - stopped_at

    def resume() -> None:
        time.sleep(SECONDS_AFTER_FAULT)
        supervisor.rpc().signalProcess(program, "CONT")

    threading.Thread(target=resume, daemon=True).start()
    return {"what": f"SIGSTOP {program}", "standby_leads_after_seconds": round(takeover, 2)}


def _group_members(group: str) -> list[Any]:
    admin = AdminClient({"bootstrap.servers": topology.kafka_bootstrap(topology.HA)})
    description = admin.describe_consumer_groups([group])[group].result(timeout=10)
    return list(description.members)


def kill_order_service_instance() -> dict[str, Any]:
    """kill -9 order_service-1; until its consumer group has one member owning all partitions."""
    before = len(_group_members("order-service"))
    killed_at = time.monotonic()
    supervisor.rpc().signalProcess("order_service-1", "KILL")
    while True:
        members = _group_members("order-service")
        owned = sum(len(m.assignment.topic_partitions) for m in members)
        if len(members) < before and owned > 0:
            break
        time.sleep(0.1)
    moved = time.monotonic() - killed_at
    return {
        "what": "kill -9 order_service-1",
        "partitions_moved_after_seconds": round(moved, 2),
    }


def kill_busiest_kafka_node() -> dict[str, Any]:
    """kill -9 the node leading most saga partitions; until it serves again."""
    admin = AdminClient({"bootstrap.servers": topology.kafka_bootstrap(topology.HA)})
    metadata = admin.list_topics(timeout=10)
    leads: dict[int, int] = {}
    for name in ("order.events", "stock_reservation.events", "payment.events"):
        for partition in metadata.topics[name].partitions.values():
            leads[partition.leader] = leads.get(partition.leader, 0) + 1
    node = max(leads, key=lambda n: leads[n])
    program = f"kafka-{node}"
    killed_at = time.monotonic()
    supervisor.rpc().signalProcess(program, "KILL")
    result: dict[str, Any] = {"what": f"kill -9 {program}"}

    def serving_again() -> None:
        time.sleep(1)
        wait_ready(program, topology.HA)
        result["node_serving_again_after_seconds"] = round(time.monotonic() - killed_at, 1)

    waiter = threading.Thread(target=serving_again, daemon=True)
    waiter.start()
    result["_waiter"] = waiter
    return result


def kill_first_instances() -> dict[str, Any]:
    """kill -9 the first instance of every service at once."""
    for service in layout.SERVICES:
        supervisor.rpc().signalProcess(f"{service.package}-1", "KILL")
    return {"what": "kill -9 the first instance of every service"}


def main() -> None:
    """Every scenario in turn (or those whose name contains an argument), waiting for the stack
    to be whole between them."""
    if topology.read_topology() != topology.HA:
        raise SystemExit("needs the HA topology: make up TOPOLOGY=ha")
    results = []
    with httpx.Client(base_url=GATEWAY, timeout=30) as client:
        admin = _token(client, *ADMIN)
        product = _product(client, admin)
        token = _customer(client)
        for name, fault in (
            ("no fault (baseline)", lambda: {"what": "none"}),
            ("relay leader hung", sigstop_relay_leader),
            ("order_service instance killed", kill_order_service_instance),
            ("kafka node killed", kill_busiest_kafka_node),
            ("one instance of every service killed", kill_first_instances),
        ):
            if sys.argv[1:] and not any(word in name for word in sys.argv[1:]):
                continue
            result = run_scenario(name, client, token, product, fault)
            waiter = result["fault"].pop("_waiter", None)
            if waiter is not None:
                waiter.join(300)
            for info in supervisor.process_info():
                if info["name"] != "payment_provider" and "-" in info["name"]:
                    wait_ready(info["name"], topology.HA)
            results.append(result)
    print(json.dumps({"benchmark": "failover", "results": results}, indent=2))


if __name__ == "__main__":
    main()
