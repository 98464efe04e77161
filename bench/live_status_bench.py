"""Live order status streams under the saga's load, through the gateway.

The saga runs at BENCH_SAGA_RATE orders/s (50) as in bench/saga_bench.py (the same customers,
products and open-loop placing), twice for BENCH_LIVE_SECONDS (30): once without streams, once
while BENCH_LIVE_STREAMS (200) streams are open. In the second run every accepted order gets a
stream (GET /api/orders/{order_id}/events, as a customer's page would open it) and the oldest
stream is left once more than BENCH_LIVE_STREAMS are open, so streams come and go at the order
rate and each sees its order's saga. Measured:

- CPU per stream: the stack's CPU per second (bench/cpu.py) with the streams minus without,
  divided by the streams open; and, with no load at all, the CPU per second of the same number
  of idle streams (keep-alives only);
- the delay from the commit of a change to its arrival on the stream, for each ``status``
  event after a stream's first (that one is the state when the stream opened). The event
  carries the order's ``updated_at``, the time of the write; the commit is when the bench's own
  LISTEN on the order database heard that order announced next (CommitClock); the arrival is
  the client's clock when the event's data line was read (one machine, one clock). The delay
  from the write is reported too: it adds the rest of the writing transaction (an inbox batch).

The streams connect from 127.0.0.2, so that the gateway counts them apart from the load's
connections (it caps connections per client address).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import os
import select
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import httpx
import psycopg2

from bench import cpu, saga_bench
from devstack import layout

GATEWAY = saga_bench.GATEWAY
RATE = saga_bench.RATE
SECONDS = float(os.environ.get("BENCH_LIVE_SECONDS", "30"))
STREAMS = int(os.environ.get("BENCH_LIVE_STREAMS", "200"))
WARMUP_SECONDS = float(os.environ.get("BENCH_LIVE_WARMUP_SECONDS", "15"))
IDLE_SECONDS = float(os.environ.get("BENCH_LIVE_IDLE_SECONDS", "30"))
STREAM_SOURCE = "127.0.0.2"
ORDER_PORT = next(s.port for s in layout.SERVICES if s.package == "order_service")


class CommitClock:
    """When each committed change of an order was announced: a LISTEN of its own on the
    order database, the channel the service listens on. The commit of the write a stream event
    reports is the first announcement of that order at or after the write's ``updated_at``
    (the writing transaction holds the order's lock from its write to its commit)."""

    def __init__(self) -> None:
        self.seen: dict[str, list[float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)

    def __enter__(self) -> CommitClock:
        self._conn = psycopg2.connect(layout.libpq_url("order_service"))
        self._conn.autocommit = True
        with self._conn.cursor() as cur:
            cur.execute("LISTEN order_changed")
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._conn.close()

    def _listen(self) -> None:
        while not self._stop.is_set():
            if select.select([self._conn], [], [], 0.5)[0]:
                self._conn.poll()
                now = time.time()
                for note in self._conn.notifies:
                    self.seen.setdefault(note.payload, []).append(now)
                self._conn.notifies.clear()

    def committed(self, order_id: str, written: float) -> float | None:
        """When the change written at ``written`` committed (None if not heard)."""
        times = self.seen.get(order_id, [])
        at = bisect.bisect_left(times, written)
        return times[at] if at < len(times) else None


class Watcher:
    """The open streams of the run: one per accepted order, at most ``limit`` at once."""

    def __init__(self, client: aiohttp.ClientSession, limit: int) -> None:
        self.client = client
        self.limit = limit
        self.open: deque[asyncio.Task[None]] = deque()
        self.arrivals: list[tuple[str, float, float]] = []  # order, written, arrived
        self.events = 0
        self.opened = 0
        self.refused: list[str] = []

    def watch(self, order_id: str, headers: dict[str, str]) -> None:
        """Open a stream of ``order_id``; leave the oldest beyond the limit."""
        self.open.append(asyncio.create_task(self._read(order_id, headers)))
        while len(self.open) > self.limit:
            self.open.popleft().cancel()

    async def _read(self, order_id: str, headers: dict[str, str]) -> None:
        try:
            async with self.client.get(f"/api/orders/{order_id}/events", headers=headers) as r:
                if r.status != 200:
                    self.refused.append(str(r.status))
                    return
                self.opened += 1
                first = True
                async for line in r.content:
                    if not line.startswith(b"data:"):
                        continue
                    arrived = time.time()
                    self.events += 1
                    if first:  # the state when the stream opened, not a change
                        first = False
                        continue
                    body = json.loads(line[5:])
                    written = datetime.fromisoformat(body["updated_at"]).timestamp()
                    self.arrivals.append((order_id, written, arrived))
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.refused.append(type(exc).__name__)

    async def close(self) -> None:
        """Leave every stream still open."""
        for task in self.open:
            task.cancel()
        for task in self.open:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.open.clear()


@dataclass(frozen=True, slots=True)
class Placed:
    """An accepted order: when its POST left, and its customer's headers."""

    at: float
    headers: dict[str, str]


async def _place_and_watch(
    client: aiohttp.ClientSession,
    customers: list[dict[str, str]],
    products: list[str],
    seconds: float,
    watcher: Watcher | None,
) -> tuple[dict[str, Placed], list[str]]:
    """Orders placed open-loop at RATE (as saga_bench does), each accepted one watched:
    (order id -> when and by whom, errors)."""
    sent: dict[str, Placed] = {}
    errors: list[str] = []
    start = time.time()

    async def one(i: int) -> None:
        await asyncio.sleep(max(0.0, start + i / RATE - time.time()))
        headers = customers[i % len(customers)]
        posted = time.time()
        try:
            async with client.post(
                "/api/orders",
                headers=headers,
                json={"items": [{"product_id": products[i % len(products)], "quantity": 1}]},
            ) as response:
                if response.status != 202:
                    errors.append(str(response.status))
                    return
                order_id = (await response.json())["order_id"]
        except (aiohttp.ClientError, TimeoutError) as exc:
            errors.append(type(exc).__name__)
            return
        sent[order_id] = Placed(posted, headers)
        if watcher is not None:
            watcher.watch(order_id, headers)

    await asyncio.gather(*(one(i) for i in range(int(RATE * seconds))))
    return sent, errors


def _delays(arrivals: list[tuple[str, float, float]], commits: CommitClock) -> dict[str, Any]:
    """Commit-to-arrival and write-to-arrival delays (ms) of the events after each stream's
    first."""
    from_commit: list[float] = []
    from_write = [(arrived - written) * 1000 for _, written, arrived in arrivals]
    for order_id, written, arrived in arrivals:
        committed = commits.committed(order_id, written)
        if committed is not None and committed <= arrived:
            from_commit.append((arrived - committed) * 1000)
    return {
        "delay_ms_p50": _percentile(from_commit, 0.5),
        "delay_ms_p99": _percentile(from_commit, 0.99),
        "delay_ms_max": _percentile(from_commit, 1.0),
        "delays_measured": len(from_commit),
        "delay_from_write_ms_p50": _percentile(from_write, 0.5),
        "delay_from_write_ms_p99": _percentile(from_write, 0.99),
    }


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, int(len(ordered) * fraction) - 1)], 1)


def _per_second(
    before: dict[str, float], after: dict[str, float], seconds: float
) -> dict[str, float]:
    """CPU ms per second by process, and the total."""
    used = {name: (after[name] - before.get(name, 0.0)) * 1000 / seconds for name in after}
    return {
        **{name: round(ms, 1) for name, ms in used.items()},
        "total": round(sum(used.values()), 1),
    }


# The processes streams cost something in: the one that serves them, the one that relays them,
# the database that is read; the rest of the stack only adds noise to a difference.
STREAM_PROCESSES = ("order_service", "gateway", "postgres")


def _per_stream(
    with_streams: dict[str, float], without: dict[str, float], streams: int
) -> dict[str, float]:
    """CPU ms per second per stream: the difference the streams made, by process."""
    return {
        name: round((with_streams.get(name, 0.0) - without.get(name, 0.0)) / max(streams, 1), 3)
        for name in (*STREAM_PROCESSES, "total")
    }


def _stream_reads() -> float:
    text = httpx.get(f"http://127.0.0.1:{ORDER_PORT}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith("order_stream_reads_total "):
            return float(line.split()[1])
    return 0.0


@dataclass
class Phase:
    """One measured run of the saga's load."""

    orders: dict[str, Placed]
    errors: list[str]
    seconds: float
    cpu_ms_per_s: dict[str, float]  # by process, and "total"
    saga_ms: dict[str, float | None]
    stream_reads: float
    events: int
    opened: int


async def _measure(
    client: aiohttp.ClientSession,
    customers: list[dict[str, str]],
    products: list[str],
    watcher: Watcher | None,
) -> Phase:
    """The saga at RATE for SECONDS (streams opened by ``watcher``), until every order settled."""
    reads, events, opened = _stream_reads(), 0, 0
    if watcher is not None:
        events, opened = watcher.events, watcher.opened
    before, started = cpu.snapshot(), time.monotonic()
    orders, errors = await _place_and_watch(client, customers, products, SECONDS, watcher)
    await saga_bench._settled(list(orders))
    after, seconds = cpu.snapshot(), time.monotonic() - started
    confirmed, _ = saga_bench._outcomes(list(orders))
    latencies = [(at - orders[order_id].at) * 1000 for order_id, at in confirmed.items()]
    return Phase(
        orders=orders,
        errors=errors,
        seconds=seconds,
        cpu_ms_per_s=_per_second(before, after, seconds),
        saga_ms={"p50": _percentile(latencies, 0.5), "p99": _percentile(latencies, 0.99)},
        stream_reads=_stream_reads() - reads,
        events=watcher.events - events if watcher else 0,
        opened=watcher.opened - opened if watcher else 0,
    )


async def _idle_cost(
    streams: aiohttp.ClientSession, orders: dict[str, Placed]
) -> tuple[int, dict[str, float], dict[str, float], list[str]]:
    """(idle streams, stack CPU ms/s by process with them, then without them, stream errors):
    STREAMS streams of confirmed orders (they stay open) and no load, so keep-alives only."""
    idle = Watcher(streams, STREAMS)
    for order_id, placed in list(orders.items())[-STREAMS:]:
        idle.watch(order_id, placed.headers)
    while idle.opened + len(idle.refused) < len(idle.open):
        await asyncio.sleep(0.1)
    before = cpu.snapshot()
    await asyncio.sleep(IDLE_SECONDS)
    with_streams = _per_second(before, cpu.snapshot(), IDLE_SECONDS)
    opened = idle.opened
    await idle.close()
    before = cpu.snapshot()
    await asyncio.sleep(IDLE_SECONDS)
    return opened, with_streams, _per_second(before, cpu.snapshot(), IDLE_SECONDS), idle.refused


async def _run() -> dict[str, Any]:
    load = aiohttp.TCPConnector(limit=200)
    # Streams hold their connection: room for all of them, from an address of their own.
    streaming = aiohttp.TCPConnector(limit=STREAMS + 50, local_addr=(STREAM_SOURCE, 0))
    timeout = aiohttp.ClientTimeout(total=30)
    stream_timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=60)
    async with (
        aiohttp.ClientSession(GATEWAY, connector=load, timeout=timeout) as client,
        aiohttp.ClientSession(GATEWAY, connector=streaming, timeout=stream_timeout) as streams,
    ):
        customers, products = await saga_bench._setup(client)
        warmup, _ = await _place_and_watch(client, customers, products, WARMUP_SECONDS, None)
        await saga_bench._settled(list(warmup))
        with CommitClock() as commits:
            plain = await _measure(client, customers, products, None)
            watcher = Watcher(streams, STREAMS)
            # The first seconds fill the pool of streams: not measured.
            await _place_and_watch(client, customers, products, STREAMS / RATE, watcher)
            watcher.arrivals.clear()
            loaded = await _measure(client, customers, products, watcher)
            delays = _delays(watcher.arrivals, commits)
            await watcher.close()
        idle_open, idle_rate, nothing_rate, idle_errors = await _idle_cost(streams, plain.orders)
    return {
        "benchmark": "live_status",
        "saga_rate_per_s": RATE,
        "seconds": SECONDS,
        "streams_open": STREAMS,
        "orders": {"without_streams": len(plain.orders), "with_streams": len(loaded.orders)},
        "errors": len(plain.errors) + len(loaded.errors),
        "stream_errors": sorted(set(watcher.refused + idle_errors)),
        "streams_opened_per_s": round(loaded.opened / loaded.seconds, 1),
        "events_delivered_per_s": round(loaded.events / loaded.seconds, 1),
        "order_reads_per_s": round(loaded.stream_reads / loaded.seconds, 1),
        **delays,
        "saga_latency_ms": {"without_streams": plain.saga_ms, "with_streams": loaded.saga_ms},
        "cpu_ms_per_s_per_stream_under_load": _per_stream(
            loaded.cpu_ms_per_s, plain.cpu_ms_per_s, STREAMS
        ),
        # Streams come and go at the order rate: what one costs from its opening to its end.
        "cpu_ms_per_stream_opened": {
            name: round(ms * STREAMS * loaded.seconds / max(loaded.opened, 1), 2)
            for name, ms in _per_stream(loaded.cpu_ms_per_s, plain.cpu_ms_per_s, STREAMS).items()
        },
        "cpu_ms_per_s_per_idle_stream": _per_stream(idle_rate, nothing_rate, idle_open),
        "cpu_ms_per_s": {
            name: {process: rate.get(process, 0.0) for process in (*STREAM_PROCESSES, "total")}
            for name, rate in (
                ("saga_without_streams", plain.cpu_ms_per_s),
                ("saga_with_streams", loaded.cpu_ms_per_s),
                ("idle_streams", idle_rate),
                ("nothing", nothing_rate),
            )
        },
    }


def main() -> None:
    """Run and print JSON."""
    result = asyncio.run(_run())
    result["measured_at"] = datetime.now(UTC).isoformat()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
