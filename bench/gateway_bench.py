"""What the gateway costs: the same authenticated GET straight to an upstream and through the
gateway, measured in one run.

The upstream is tests/gateway/integration/echo_app.py (FastAPI under uvicorn, like the
services), one instance, registered in the real Eureka; the gateway runs as ``python -m gateway``
with its production settings (only port, route and JWKS URL set) and checks a real RS256 token on
every request: its signature is verified once, then the token is served from the gateway's cache
of verified tokens, as in production (GATEWAY_TOKEN_CACHE_SIZE=0 verifies the signature every
time).

Load comes from wrk (Debian package; C, event loop, keep-alive, loopback only), bounded in time:
- latency: 1 connection, so each request waits for the previous one: p50/p99 with no queueing,
  the cost the gateway adds to one call;
- throughput: 32 connections, requests/s at saturation (and the loaded p50/p99).
Direct and gateway runs alternate within each round; each figure is the median over the
rounds, and the added p50 and the throughput ratio are the medians of the per-round comparisons.

Prints JSON. BENCH_GATEWAY_SECONDS (per wrk run, default 5), BENCH_GATEWAY_ROUNDS (3) and
BENCH_GATEWAY_CONNECTIONS (32) change the run; GATEWAY_* variables reach the gateway, e.g.
GATEWAY_ACCESS_LOG=errors to leave out the cost of an access line per successful request.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from devstack import layout
from servicekit.tokens import AUDIENCE, ISSUER
from tests.support import ManagedProcess, free_port, wait_for

SECONDS = int(os.environ.get("BENCH_GATEWAY_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_GATEWAY_ROUNDS", "3"))
CONNECTIONS = int(os.environ.get("BENCH_GATEWAY_CONNECTIONS", "32"))
PATH = "/api/echo/ping"
TARGET_ADDED_P50_MS = 1.0
TARGET_THROUGHPUT_RATIO = 0.5

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def signed_token() -> tuple[str, dict[str, Any]]:
    """An RS256 access token and the JWKS that verifies it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="bench", use="sig", alg="RS256")
    now = int(time.time())
    claims = {
        "sub": str(uuid.uuid4()),
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        # Within TOKEN_MAX_LIFETIME_SECONDS (900), which every verifier enforces; the run is
        # far shorter than that.
        "exp": now + 900,
        "jti": uuid.uuid4().hex,
        "roles": ["customer"],
    }
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "bench"})
    return token, {"keys": [jwk]}


def wrk(url: str, token: str, *, connections: int, seconds: int) -> dict[str, float]:
    """One wrk run: requests/s, p50 and p99 in ms; fails on any error or non-2xx answer."""
    result = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "--latency",
            "-H",
            f"Authorization: Bearer {token}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    )
    out = result.stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw failures against {url}:\n{out}")

    def percentile(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"no {label}th percentile in wrk output:\n{out}")
        return float(match.group(1)) * _UNITS[match.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rps is None:
        raise RuntimeError(f"no Requests/sec in wrk output:\n{out}")
    return {"rps": float(rps.group(1)), "p50_ms": percentile("50"), "p99_ms": percentile("99")}


def measure(url: str, token: str) -> dict[str, float]:
    """Latency with one connection, then throughput with CONNECTIONS."""
    latency = wrk(url, token, connections=1, seconds=SECONDS)
    load = wrk(url, token, connections=CONNECTIONS, seconds=SECONDS)
    return {
        "rps": load["rps"],
        "p50_ms": latency["p50_ms"],
        "p99_ms": latency["p99_ms"],
        "loaded_p50_ms": load["p50_ms"],
        "loaded_p99_ms": load["p99_ms"],
    }


def median(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over the rounds."""
    return {key: round(statistics.median(r[key] for r in runs), 3) for key in runs[0]}


def run() -> dict[str, Any]:
    """Run the comparison; the result as a JSON-ready dict."""
    if shutil.which("wrk") is None:
        raise SystemExit("gateway_bench needs wrk: apt-get install wrk (infra/bin/bootstrap.sh)")
    token, jwks = signed_token()
    app = f"BENCH-ECHO-{uuid.uuid4().hex[:8].upper()}"
    logs = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    upstream_port, gateway_port = free_port(), free_port()
    upstream = ManagedProcess(
        [sys.executable, "-m", "tests.gateway.integration.echo_app"],
        {
            "ECHO_APP_NAME": app,
            "ECHO_PORT": str(upstream_port),
            "ECHO_JWKS": json.dumps(jwks),
            "EUREKA_URL": layout.EUREKA_URL,
        },
        logs / "upstream.log",
        http_port=upstream_port,
    )
    gateway = ManagedProcess(
        [sys.executable, "-m", "gateway"],
        {
            "GATEWAY_PORT": str(gateway_port),
            "GATEWAY_ROUTES": json.dumps({"/api/echo": app}),
            "JWKS_URL": f"http://127.0.0.1:{upstream_port}/jwks.json",
            "EUREKA_URL": layout.EUREKA_URL,
        },
        logs / "gateway.log",
        http_port=gateway_port,
    )
    direct_url = f"http://127.0.0.1:{upstream_port}{PATH}"
    gateway_url = f"http://127.0.0.1:{gateway_port}{PATH}"
    started = []
    try:
        for process in (upstream, gateway):
            process.start()
            started.append(process)
            wait_for(process.health, timeout=60, what=f"{process.args[-1]} /health")

        def routed() -> bool:
            headers = {"Authorization": f"Bearer {token}"}
            return httpx.get(gateway_url, headers=headers, timeout=5).status_code == 200

        wait_for(routed, timeout=60, what="the gateway to route to the upstream")
        load_before = os.getloadavg()[0]
        for url in (direct_url, gateway_url):  # warm up: connections, caches, JIT-free paths
            wrk(url, token, connections=CONNECTIONS, seconds=2)
        direct_runs, gateway_runs = [], []
        for _ in range(ROUNDS):
            direct_runs.append(measure(direct_url, token))
            gateway_runs.append(measure(gateway_url, token))
        direct, through = median(direct_runs), median(gateway_runs)
        # Compared within each round (the two runs nearest in time), then the median: other
        # load on the machine shifts both of a round's runs rather than one of them.
        pairs = list(zip(direct_runs, gateway_runs, strict=True))
        added = round(statistics.median(g["p50_ms"] - d["p50_ms"] for d, g in pairs), 3)
        ratio = round(statistics.median(g["rps"] / d["rps"] for d, g in pairs), 3)
        result: dict[str, Any] = {
            "benchmark": "gateway",
            "request": f"GET {PATH}, RS256 bearer token verified by the gateway",
            "load_generator": f"wrk, 1 thread, loopback; latency at 1 connection, "
            f"throughput at {CONNECTIONS}",
            "seconds_per_run": SECONDS,
            "rounds": ROUNDS,
            "cpus": os.cpu_count(),
            "load_average_before": round(load_before, 2),
            "access_log": os.environ.get("GATEWAY_ACCESS_LOG", "all"),
            "token_cache_size": os.environ.get("GATEWAY_TOKEN_CACHE_SIZE", "10000"),
            "direct": direct,
            "gateway": through,
            "added_p50_ms": added,
            "throughput_ratio": ratio,
            "targets_met": added <= TARGET_ADDED_P50_MS and ratio >= TARGET_THROUGHPUT_RATIO,
            "runs": {"direct": direct_runs, "gateway": gateway_runs},
        }
    finally:
        for process in reversed(started):
            process.stop()
        shutil.rmtree(logs, ignore_errors=True)
    return result


def main() -> None:
    """Run the comparison and print it as JSON."""
    print(json.dumps(run(), indent=2))


if __name__ == "__main__":
    main()
