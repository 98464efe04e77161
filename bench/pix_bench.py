"""Pix payments under a steady order rate: from payment to CONFIRMED, and webhooks per core.

Part one: pix orders are placed open-loop at BENCH_PIX_RATE (default 20/s) for
BENCH_PIX_SECONDS (default 30) through the gateway. Each has a simulated customer who pays at
the provider one second after its QR code appears. The QR codes are watched for by one reader of
payment_service's database (every 100 ms, all orders at once), not by hundreds of customers
polling ``GET /api/payments``: on two cores such polling became the load it was meant to observe.
Latency is from just before the pay request leaves to the commit of order.confirmed (its
timeline row, read from the order database afterwards): the provider's webhook outbox and
delivery, the signature check, payment_service's transaction, the relay, Kafka and order_service.

Part two: how many webhooks payment_service accepts on one core. Signed ``charge.paid``
webhooks with fresh ids (each a verification, a lock, a load and a deduplicating insert; the
orders of part one are paid already, so the payment itself does not change) are posted straight
to payment_service by BENCH_PIX_WEBHOOK_CLIENTS (8) concurrent clients for
BENCH_PIX_WEBHOOK_SECONDS (10). payment_service is one Python process (one core at most); the
figure is webhooks accepted per second of payment_service's CPU, with the wall-clock rate and
the CPU per webhook of every process beside it.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
import uuid
from typing import Any

import aiohttp
import orjson
import psycopg2

from bench import cpu
from contracts.webhooks import SIGNATURE_HEADER, sign
from devstack import layout

GATEWAY = os.environ.get("GATEWAY_URL", f"http://localhost:{layout.GATEWAY_PORT}")
PROVIDER = os.environ.get(
    "PAYMENT_PROVIDER_URL", f"http://127.0.0.1:{layout.PAYMENT_PROVIDER_PORT}"
)
SECRET = os.environ.get("PROVIDER_WEBHOOK_SECRET", "local-provider-webhook-secret")
PAYMENT_PORT = next(s.port for s in layout.SERVICES if s.package == "payment_service")
RATE = float(os.environ.get("BENCH_PIX_RATE", "20"))
SECONDS = float(os.environ.get("BENCH_PIX_SECONDS", "30"))
PAY_AFTER_SECONDS = 1.0
WATCH_EVERY_SECONDS = 0.1
WEBHOOK_CLIENTS = int(os.environ.get("BENCH_PIX_WEBHOOK_CLIENTS", "8"))
WEBHOOK_SECONDS = float(os.environ.get("BENCH_PIX_WEBHOOK_SECONDS", "10"))
CUSTOMERS = 10


async def _post(
    client: aiohttp.ClientSession, path: str, body: Any, headers: dict[str, str] | None = None
) -> Any:
    async with client.post(path, json=body, headers=headers) as response:
        response.raise_for_status()
        return await response.json()


async def _setup(client: aiohttp.ClientSession) -> tuple[list[dict[str, str]], str]:
    admin = await _post(
        client,
        "/api/auth/login",
        {
            "email": os.environ.get("ADMIN_EMAIL", "admin@example.com"),
            "password": os.environ.get("ADMIN_PASSWORD", "Admin-password-1"),
        },
    )
    product = await _post(
        client,
        "/api/products",
        {
            "sku": f"PIXBENCH-{uuid.uuid4().hex[:10]}",
            "name": "pix bench item",
            "price": "7.90",
            "currency": "BRL",
            "stock": 1_000_000,
        },
        {"Authorization": f"Bearer {admin['access_token']}"},
    )
    customers = []
    for _ in range(CUSTOMERS):
        email = f"pixbench-{uuid.uuid4().hex[:10]}@example.com"
        password = "bench-password-1"  # noqa: S105 - throw-away benchmark accounts
        await _post(
            client, "/api/auth/register", {"email": email, "password": password, "full_name": "B"}
        )
        tokens = await _post(client, "/api/auth/login", {"email": email, "password": password})
        customers.append({"Authorization": f"Bearer {tokens['access_token']}"})
    while not _rows(
        "order_service", "SELECT 1 FROM products WHERE product_id = %s", product["product_id"]
    ):
        await asyncio.sleep(0.1)
    return customers, str(product["product_id"])


class QrWatch:
    """Which orders' QR codes have appeared: one query for all of them every 100 ms."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[str]] = {}

    def wait(self, order_id: str) -> asyncio.Future[str]:
        """The charge id, once the order's payment has one."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.waiting[order_id] = future
        return future

    async def run(self, stop: asyncio.Event) -> None:
        """Resolve the waiting futures until ``stop``."""
        while not stop.is_set():
            if self.waiting:
                rows = await asyncio.to_thread(
                    _rows,
                    "payment_service",
                    "SELECT order_id::text, charge_id::text FROM payments"
                    " WHERE order_id = ANY(%s::uuid[]) AND charge_id IS NOT NULL",
                    list(self.waiting),
                )
                for order_id, charge_id in rows:
                    future = self.waiting.pop(order_id, None)
                    if future is not None and not future.done():
                        future.set_result(str(charge_id))
            await asyncio.sleep(WATCH_EVERY_SECONDS)


async def _customer(
    client: aiohttp.ClientSession,
    provider: aiohttp.ClientSession,
    headers: dict[str, str],
    product: str,
    leave_at: float,
    watch: QrWatch,
    paid_at: dict[str, float],
    errors: list[str],
) -> None:
    """One order: placed at ``leave_at``, paid one second after its QR code appears."""
    await asyncio.sleep(max(0.0, leave_at - time.time()))
    try:
        placed = await _post(
            client,
            "/api/orders",
            {"items": [{"product_id": product, "quantity": 1}], "payment_method": "pix"},
            headers,
        )
        order_id = placed["order_id"]
        try:
            charge_id = await asyncio.wait_for(watch.wait(order_id), timeout=60)
        except TimeoutError:
            watch.waiting.pop(order_id, None)
            errors.append("no QR code in 60 s")
            return
        await asyncio.sleep(PAY_AFTER_SECONDS)
        paid_at[order_id] = time.time()
        async with provider.post(f"/charges/{charge_id}/pay") as response:
            if response.status != 200:
                errors.append(f"pay {response.status}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        errors.append(type(exc).__name__)


def _rows(database: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg2.connect(layout.libpq_url(database)) as conn, conn.cursor() as cur:
        cur.execute(query, args)
        rows = [tuple(row) for row in cur.fetchall()]
    conn.close()
    return rows


def _confirmed(order_ids: list[str]) -> dict[str, float]:
    rows = _rows(
        "order_service",
        "SELECT order_id::text, extract(epoch FROM at) FROM order_timeline"
        " WHERE event_type = 'order.confirmed' AND order_id = ANY(%s::uuid[])",
        order_ids,
    )
    return {order_id: float(at) for order_id, at in rows}


async def _webhooks(references: list[tuple[str, str]]) -> dict[str, Any]:
    """Signed webhooks straight at payment_service, WEBHOOK_CLIENTS at a time."""
    accepted = 0
    failed: list[int] = []
    stop_at = time.time() + WEBHOOK_SECONDS

    async def client_loop(client: aiohttp.ClientSession, offset: int) -> None:
        nonlocal accepted
        i = offset
        while time.time() < stop_at:
            order_id, charge_id = references[i % len(references)]
            i += WEBHOOK_CLIENTS
            body = orjson.dumps(
                {
                    "id": str(uuid.uuid4()),
                    "type": "charge.paid",
                    "charge_id": charge_id,
                    "amount": "7.90",
                    "currency": "BRL",
                    "reference": order_id,
                    "occurred_at": "2026-01-01T00:00:00Z",
                }
            )
            headers = {
                SIGNATURE_HEADER: sign(SECRET, body, int(time.time())),
                "Content-Type": "application/json",
            }
            async with client.post(
                "/api/payments/webhooks/provider", data=body, headers=headers
            ) as response:
                await response.read()
                if response.status == 200:
                    accepted += 1
                else:
                    failed.append(response.status)

    before, wall = cpu.snapshot(), time.time()
    async with aiohttp.ClientSession(f"http://127.0.0.1:{PAYMENT_PORT}") as client:
        await asyncio.gather(*(client_loop(client, i) for i in range(WEBHOOK_CLIENTS)))
    after, wall = cpu.snapshot(), time.time() - wall
    service_cpu = after["payment_service"] - before["payment_service"]
    return {
        "webhooks_accepted": accepted,
        "webhooks_failed": len(failed),
        "webhooks_per_s_wall": round(accepted / wall, 1),
        "webhooks_per_cpu_second_of_payment_service": round(accepted / max(service_cpu, 1e-9), 1),
        "payment_service_cpu_share_of_one_core": round(service_cpu / wall, 2),
        "cpu_ms_per_webhook": cpu.per_unit(before, after, accepted),
    }


async def _run() -> dict[str, Any]:
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        aiohttp.ClientSession(GATEWAY, timeout=timeout) as client,
        aiohttp.ClientSession(PROVIDER, timeout=timeout) as provider,
    ):
        customers, product = await _setup(client)
        paid_at: dict[str, float] = {}
        errors: list[str] = []
        watch, stop = QrWatch(), asyncio.Event()
        watcher = asyncio.create_task(watch.run(stop))
        start = time.time()
        await asyncio.gather(
            *(
                _customer(
                    client,
                    provider,
                    customers[i % CUSTOMERS],
                    product,
                    start + i / RATE,
                    watch,
                    paid_at,
                    errors,
                )
                for i in range(int(RATE * SECONDS))
            )
        )
        stop.set()
        await watcher
    deadline = time.time() + 60
    confirmed = _confirmed(list(paid_at))
    while len(confirmed) < len(paid_at) and time.time() < deadline:
        await asyncio.sleep(0.5)
        confirmed = _confirmed(list(paid_at))
    latencies = sorted((confirmed[o] - paid_at[o]) * 1000 for o in confirmed)
    references = _rows(
        "payment_service",
        "SELECT order_id::text, charge_id::text FROM payments"
        " WHERE order_id = ANY(%s::uuid[]) AND charge_id IS NOT NULL",
        list(paid_at),
    )
    webhooks = await _webhooks([(str(o), str(c)) for o, c in references]) if references else {}
    return {
        "benchmark": "pix",
        "target_rate_per_s": RATE,
        "seconds": SECONDS,
        "orders": int(RATE * SECONDS),
        "paid": len(paid_at),
        "confirmed": len(confirmed),
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "payment_to_confirmed_ms_p50": round(statistics.median(latencies), 1)
        if latencies
        else None,
        "payment_to_confirmed_ms_p99": round(latencies[max(int(len(latencies) * 0.99) - 1, 0)], 1)
        if latencies
        else None,
        "payment_to_confirmed_ms_max": round(latencies[-1], 1) if latencies else None,
        **webhooks,
    }


def main() -> None:
    """Run once and print one JSON document."""
    print(json.dumps(asyncio.run(_run())), flush=True)


if __name__ == "__main__":
    main()
