"""How fast this machine is at the time of a run, on two fixed workloads, so that figures of
different runs can be read side by side.

Machines of the same kind are not equally fast, nor is one machine from hour to hour: with the
same code, the saga's CPU per order differed by up to a fifth between two working sessions of
one day on the same kind of 2-core machine. A run's figures therefore come with the time this
machine takes for

- ``python_ms``: a fixed piece of pure-Python work (building, serialising and parsing small
  dicts, string formatting: what a service does around each event), CPU time of this process;
- ``pg_select_us``: one ``SELECT 1`` round trip over the Unix socket the services use, CPU of
  the client and of its server backend together (``/proc``), per statement, and
  ``pg_select_server_us``, the backend's part of it.

Each is the best of three rounds (the least disturbed by whatever else runs). They say whether
two runs ran on a machine equally fast at idle; under load the machine's speed moved by half
within an hour while these hardly moved, so the saga benchmark also reports its client's CPU per
order, measured during the run, and the stack's in units of it (bench/saga_bench.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg2

from devstack import layout

_TICKS = os.sysconf("SC_CLK_TCK")
PYTHON_ROUNDS = 20_000
PG_STATEMENTS = 20_000


def _python_work(rounds: int) -> int:
    total = 0
    for i in range(rounds):
        event = {
            "event_id": f"{i:032x}",
            "event_type": "order.created",
            "payload": {"order_id": f"order-{i}", "items": [{"q": i % 7, "p": "1.00"}] * 3},
        }
        text = json.dumps(event, separators=(",", ":"))
        total += len(json.loads(text)["payload"]["items"]) + len(f"{i}:{text[:20]}")
    return total


def python_ms() -> float:
    """CPU milliseconds for the fixed pure-Python workload, best of three."""
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        _python_work(PYTHON_ROUNDS)
        best = min(best, time.process_time() - start)
    return round(best * 1000, 1)


def _backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def pg_select_us() -> tuple[float, float]:
    """CPU microseconds per ``SELECT 1`` over the Unix socket, best of three rounds: client plus
    server, and the server's part (in the round with the least in all)."""
    conn = psycopg2.connect(layout.database_url("order_service", driver="postgresql", socket=True))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            backend = int(cur.fetchone()[0])
            best = (float("inf"), 0.0)
            for _ in range(3):
                client, server = time.process_time(), _backend_cpu(backend)
                for _ in range(PG_STATEMENTS):
                    cur.execute("SELECT 1")
                    cur.fetchone()
                served = _backend_cpu(backend) - server
                best = min(best, (time.process_time() - client + served, served))
    finally:
        conn.close()
    total, served = best
    return round(total / PG_STATEMENTS * 1e6, 1), round(served / PG_STATEMENTS * 1e6, 1)


def measure_apart() -> dict[str, Any]:
    """measure() in a fresh interpreter: in a benchmark's own process (its heap, its event
    loop's thread) the Python workload took half as long again as alone."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.calibration"],
        cwd=Path(__file__).resolve().parent.parent,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def measure() -> dict[str, Any]:
    """Both figures, with what they are."""
    pg_total, pg_server = pg_select_us()
    return {
        "python_ms": python_ms(),
        "python_workload": f"{PYTHON_ROUNDS} small events built, serialised and parsed",
        "pg_select_us": pg_total,
        "pg_select_server_us": pg_server,
        "cpus": os.cpu_count(),
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
