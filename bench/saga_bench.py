"""Saga latency under a steady order rate, through the gateway.

Orders are placed open-loop (request i leaves at start + i / rate, whatever the earlier answers
did) by a pool of customers, for products with ample stock and a price under the payment limit,
so every order should confirm. Latency is from just before the POST leaves the client to the
commit of order.confirmed (the timeline row written in that transaction, read from the order
database after the run, so measuring adds no load while the saga runs). A warm-up at the same
rate (BENCH_SAGA_WARMUP_SECONDS, default 30) runs first and is not measured: Kafka's and Eureka's
JVMs compile their hot paths in the first seconds after a start. CPU per order comes from /proc
(bench/cpu.py) over the measured run; the stack's idle CPU over IDLE_SECONDS before it, and
``machine`` says how fast this machine was at the time, on two fixed workloads
(bench/calibration.py).

Then a rate sweep finds the knee, the highest rate whose p99 stays within 1 s: the rates of
BENCH_SAGA_SWEEP_RATES (orders/s) for BENCH_SAGA_SWEEP_SECONDS each and the nominal run, in
ascending order (no step inherits a faster one's backlog), up to the first rate above the nominal
one past the knee (a higher one would only queue more), within BENCH_SAGA_SWEEP_BUDGET_SECONDS.
BENCH_SAGA_SWEEP_RATES= (empty) skips the sweep.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
import psycopg2

from bench import calibration, cpu
from bench.ratios import KNEE_P99_MS, knee
from devstack import layout

GATEWAY = os.environ.get("GATEWAY_URL", f"http://localhost:{layout.GATEWAY_PORT}")
RATE = float(os.environ.get("BENCH_SAGA_RATE", "50"))
SECONDS = float(os.environ.get("BENCH_SAGA_SECONDS", "60"))
CUSTOMERS = 20
# Long enough that a process's idle CPU is not a count of a few 10 ms clock ticks.
IDLE_SECONDS = 10
WARMUP_SECONDS = float(os.environ.get("BENCH_SAGA_WARMUP_SECONDS", "30"))
SWEEP_RATES = [
    float(r)
    for r in os.environ.get("BENCH_SAGA_SWEEP_RATES", "25,35,45,50,60,75,100,150,200").split(",")
    if r
]
SWEEP_SECONDS = float(os.environ.get("BENCH_SAGA_SWEEP_SECONDS", "20"))
SWEEP_BUDGET_SECONDS = float(os.environ.get("BENCH_SAGA_SWEEP_BUDGET_SECONDS", "300"))


async def _post(
    client: aiohttp.ClientSession, path: str, body: Any, headers: dict[str, str] | None = None
) -> Any:
    async with client.post(path, json=body, headers=headers) as response:
        response.raise_for_status()
        return await response.json()


async def _setup(client: aiohttp.ClientSession) -> tuple[list[dict[str, str]], list[str]]:
    admin = await _post(
        client,
        "/api/auth/login",
        {
            "email": os.environ.get("ADMIN_EMAIL", "admin@example.com"),
            "password": os.environ.get("ADMIN_PASSWORD", "Admin-password-1"),
        },
    )
    admin_headers = {"Authorization": f"Bearer {admin['access_token']}"}
    products = []
    for _ in range(5):
        product = await _post(
            client,
            "/api/products",
            {
                "sku": f"BENCH-{uuid.uuid4().hex[:10]}",
                "name": "bench item",
                "price": "1.00",
                "currency": "EUR",
                "stock": 1_000_000,
            },
            admin_headers,
        )
        products.append(product["product_id"])
    customers = []
    for _ in range(CUSTOMERS):
        email = f"bench-{uuid.uuid4().hex[:10]}@example.com"
        password = "bench-password-1"  # noqa: S105 - throw-away benchmark accounts
        await _post(
            client,
            "/api/auth/register",
            {"email": email, "password": password, "full_name": "Bench"},
        )
        tokens = await _post(client, "/api/auth/login", {"email": email, "password": password})
        customers.append({"Authorization": f"Bearer {tokens['access_token']}"})
    # The order service validates against its read model: wait until it has the products.
    while not _known_to_orders(products):
        await asyncio.sleep(0.1)
    return customers, products


def _known_to_orders(product_ids: list[str]) -> bool:
    with psycopg2.connect(layout.libpq_url("order_service")) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM products WHERE product_id = ANY(%s::uuid[])", (product_ids,)
        )
        return int(cur.fetchone()[0]) == len(product_ids)


async def _place(
    client: aiohttp.ClientSession,
    customers: list[dict[str, str]],
    products: list[str],
    seconds: float,
    rate: float = RATE,
) -> tuple[dict[str, float], list[str], float]:
    """Orders placed open-loop at ``rate``: (order id -> time sent, errors, seconds spent)."""
    sent: dict[str, float] = {}
    errors: list[str] = []
    start = time.time()

    async def one(i: int) -> None:
        await asyncio.sleep(max(0.0, start + i / rate - time.time()))
        t0 = time.time()
        try:
            async with client.post(
                "/api/orders",
                headers=customers[i % CUSTOMERS],
                json={"items": [{"product_id": products[i % 5], "quantity": 1}]},
            ) as response:
                if response.status != 202:
                    errors.append(str(response.status))
                    return
                sent[(await response.json())["order_id"]] = t0
        except (aiohttp.ClientError, TimeoutError) as exc:
            errors.append(type(exc).__name__)

    await asyncio.gather(*(one(i) for i in range(int(rate * seconds))))
    return sent, errors, time.time() - start


async def _settled(order_ids: list[str]) -> tuple[dict[str, float], dict[str, int]]:
    """Wait (up to 30 s) until no order is still open; (confirmed at, count by status)."""
    deadline = time.time() + 30
    while True:
        confirmed, statuses = _outcomes(order_ids)
        if (
            sum(statuses.values()) >= len(order_ids)
            and statuses.get("PENDING", 0) == 0
            and statuses.get("STOCK_RESERVED", 0) == 0
        ) or time.time() > deadline:
            return confirmed, statuses
        await asyncio.sleep(0.1)


async def _run() -> dict[str, Any]:
    # aiohttp rather than httpx: the client shares the 2 cores with the system it measures, and
    # httpx cost about 3 ms of CPU per order.
    connector = aiohttp.TCPConnector(limit=200)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(GATEWAY, connector=connector, timeout=timeout) as client:
        customers, products = await _setup(client)
        # Not measured: the JVMs compile their hot paths and every pool fills first.
        warmup, _, _ = await _place(client, customers, products, WARMUP_SECONDS)
        await _settled(list(warmup))
        idle_before = cpu.snapshot()
        await asyncio.sleep(IDLE_SECONDS)
        idle_after = cpu.snapshot()
        machine = await asyncio.to_thread(calibration.measure_apart)
        nominal, sweep = await _sweep(client, customers, products)
    nominal["machine"] = machine
    nominal["idle_cpu_ms_per_s"] = cpu.per_unit(idle_before, idle_after, IDLE_SECONDS)
    nominal["targets"] = {"latency_ms_p50": 50, "latency_ms_p99": 250, "rate_per_s": 50}
    nominal["sweep"] = sweep
    nominal["knee_rate_per_s"] = knee(sweep)
    nominal["knee_p99_limit_ms"] = KNEE_P99_MS
    return nominal


async def _sweep(
    client: aiohttp.ClientSession,
    customers: list[dict[str, str]],
    products: list[str],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The nominal run (RATE for SECONDS) and one step per SWEEP_RATES rate, in ascending order
    so that no step inherits a backlog from a faster one; above RATE up to the first rate past
    the knee, all within SWEEP_BUDGET_SECONDS (the nominal run always happens)."""
    steps: list[dict[str, Any]] = []
    nominal: dict[str, Any] | None = None
    deadline = time.monotonic() + SWEEP_BUDGET_SECONDS
    for rate in sorted({*SWEEP_RATES, RATE}):
        if rate == RATE:
            nominal = await _step(client, customers, products, RATE, SECONDS, cpu.snapshot())
            step = nominal
        elif time.monotonic() + SWEEP_SECONDS > deadline:
            if rate > RATE:
                break
            continue
        else:
            step = await _step(client, customers, products, rate, SWEEP_SECONDS, cpu.snapshot())
        if SWEEP_RATES:
            steps.append(dict(step))  # a copy: the nominal result will hold the sweep
        if rate >= RATE and knee([step]) is None:
            break  # past the knee: a higher rate only queues more
    assert nominal is not None
    return nominal, steps


async def _step(
    client: aiohttp.ClientSession,
    customers: list[dict[str, str]],
    products: list[str],
    rate: float,
    seconds: float,
    cpu_before: dict[str, float],
) -> dict[str, Any]:
    """Orders at ``rate`` for ``seconds``, until every one has settled: latency, CPU per order."""
    client_before = time.process_time()
    start = time.time()
    sent, errors, send_seconds = await _place(client, customers, products, seconds, rate)
    confirmed, statuses = await _settled(list(sent))
    total = int(rate * seconds)
    cpu_after, client_after = cpu.snapshot(), time.process_time()
    done = sum(statuses.values())
    cpu_per_order = cpu.per_unit(cpu_before, cpu_after, done)
    client_ms = round((client_after - client_before) * 1000 / max(done, 1), 2)
    latencies = sorted((confirmed[o] - sent[o]) * 1000 for o in confirmed)
    last_confirm = max(confirmed.values()) if confirmed else start
    return {
        "benchmark": "saga",
        "target_rate_per_s": rate,
        "seconds": seconds,
        "warmup_seconds": WARMUP_SECONDS,
        "orders_sent": total,
        "orders_accepted": len(sent),
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "send_rate_held_per_s": round(len(sent) / send_seconds, 1),
        "confirmed": len(confirmed),
        "final_statuses": statuses,
        "confirm_throughput_per_s": round(len(confirmed) / max(last_confirm - start, 1e-9), 1),
        "latency_ms_p50": round(statistics.median(latencies), 1) if latencies else None,
        "latency_ms_p99": round(latencies[int(len(latencies) * 0.99) - 1], 1)
        if latencies
        else None,
        "latency_ms_max": round(latencies[-1], 1) if latencies else None,
        "latency_by_window": _by_window(sent, confirmed, start),
        "cpu_ms_per_order": cpu_per_order,
        "cpu_ms_per_order_bench_client": client_ms,
        # The stack's CPU per order in units of the client's, which does the same work per order
        # in every run and shares the cores, and their speed at the time, with the stack: on one
        # day its CPU per order went from 0.73 to 1.17 ms and the stack's from 23.2 to 35.1 ms
        # while this stayed within 28.8-32.9 (docs/performance.md, "Tenth round").
        "cpu_per_order_in_client_units": round(cpu_per_order["total"] / client_ms, 1)
        if client_ms and "total" in cpu_per_order
        else None,
        # Every sample, for the latency figure (left out of the printed JSON).
        "latencies_ms": [round(x, 1) for x in latencies],
    }


# The width of the windows the latency is also reported in, by when each order was sent: a run
# right after `make up` shows whether its slow orders came first.
WINDOW_SECONDS = 10.0


def _by_window(
    sent: dict[str, float], confirmed: dict[str, float], start: float
) -> list[dict[str, Any]]:
    """p50/p99 of the orders sent in each WINDOW_SECONDS of the run."""
    windows: dict[int, list[float]] = {}
    for order, at in sent.items():
        if order in confirmed:
            windows.setdefault(int((at - start) // WINDOW_SECONDS), []).append(
                (confirmed[order] - at) * 1000
            )
    report = []
    for index in sorted(windows):
        values = sorted(windows[index])
        report.append(
            {
                "from_s": index * WINDOW_SECONDS,
                "orders": len(values),
                "p50_ms": round(statistics.median(values), 1),
                "p99_ms": round(values[max(int(len(values) * 0.99) - 1, 0)], 1),
            }
        )
    return report


def _outcomes(order_ids: list[str]) -> tuple[dict[str, float], dict[str, int]]:
    conn = psycopg2.connect(layout.libpq_url("order_service"))
    # One snapshot for both reads: an order counted CONFIRMED has its timeline row counted too.
    conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT order_id::text, at FROM order_timeline WHERE event_type = 'order.confirmed'"
            " AND order_id = ANY(%s::uuid[])",
            (order_ids,),
        )
        confirmed = {row[0]: row[1].astimezone(UTC).timestamp() for row in cur.fetchall()}
        cur.execute(
            "SELECT status, count(*) FROM orders WHERE order_id = ANY(%s::uuid[]) GROUP BY status",
            (order_ids,),
        )
        statuses = {row[0]: int(row[1]) for row in cur.fetchall()}
    conn.close()
    return confirmed, statuses


def run() -> dict[str, Any]:
    """Run: the nominal rate's figures, the sweep and the knee, every latency sample included."""
    result = asyncio.run(_run())
    result["measured_at"] = datetime.now(UTC).isoformat()
    return result


def printable(result: dict[str, Any]) -> dict[str, Any]:
    """The result without its latency samples (they are for the figure)."""
    shown = {k: v for k, v in result.items() if k not in ("latencies_ms", "sweep")}
    shown["sweep"] = [
        {k: v for k, v in step.items() if k not in ("latencies_ms", "sweep")}
        for step in result.get("sweep", [])
    ]
    return shown


def main() -> None:
    """Run and print JSON."""
    print(json.dumps(printable(run()), indent=2))


if __name__ == "__main__":
    main()
