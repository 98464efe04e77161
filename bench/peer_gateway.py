"""Our gateway side by side with Spring Cloud Gateway, in one run, on the same upstream.

Contenders, all routing GET /api/echo/ping through Eureka to the same echo upstream
(tests/gateway/integration/echo_app.py) and checking the same RS256 bearer token:
- ``ours``: ``python -m gateway`` as in production (verified tokens are cached until exp);
- ``ours_no_cache``: the same with GATEWAY_TOKEN_CACHE_SIZE=0, verifying RS256 on every request,
  as Spring Security's resource server does;
- ``spring_cloud_gateway``: bench/peers/spring-cloud-gateway (WebFlux, OAuth2 resource server,
  Eureka client, load balancer), built by ``make bench-peers``.

Each round measures the upstream directly and then every contender (the order rotates from round
to round), each with wrk as gateway_bench does: latency at 1 connection, throughput at
CONNECTIONS. Added latency is the contender's p50/p99 minus the direct run's of the same round;
CPU per request is the contender's process tree's CPU during the throughput run over the requests
served; memory is its resident set after the last run (and its peak).
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
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench import procstat
from bench.gateway_bench import PATH, signed_token
from bench.ratios import ratios_against
from devstack import layout
from servicekit.settings import EurekaSettings
from servicekit.tokens import AUDIENCE, ISSUER
from tests.support import ManagedProcess, free_port, wait_for

SECONDS = int(os.environ.get("BENCH_PEERS_GATEWAY_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_PEERS_GATEWAY_ROUNDS", "3"))
CONNECTIONS = int(os.environ.get("BENCH_GATEWAY_CONNECTIONS", "32"))
# Unmeasured load on each contender first, counted in requests rather than seconds: Spring Cloud
# Gateway's JVM reaches its steady state only after about 50,000 requests (its C2 compiler spends
# some 25 s of CPU on the request path first; until then a request costs 1-9 ms of CPU instead of
# about 0.5). A time-based warm-up on a busy machine served it a few hundred requests, so the rounds
# measured the interpreter and the JIT compiler, not the gateway. The time limit keeps a starved run
# finite; each contender's warm-up request count is in the result.
# Our gateway's processes sharing its port (GATEWAY_WORKERS): the JVM spreads its work over both
# cores, and one Python process cannot.
WORKERS = int(os.environ.get("BENCH_PEERS_GATEWAY_WORKERS", "1"))
WARMUP_REQUESTS = int(os.environ.get("BENCH_PEERS_GATEWAY_WARMUP_REQUESTS", "60000"))
WARMUP_SECONDS = int(os.environ.get("BENCH_PEERS_GATEWAY_WARMUP_SECONDS", "300"))
WARMUP_CHUNK_SECONDS = 10
SCG_JAR = layout.VAR / "peers" / "spring-cloud-gateway" / "spring-cloud-gateway-peer.jar"
PEER = "spring_cloud_gateway"


def _eureka_url_with_credentials() -> str:
    """The registry URL with HTTP basic credentials in it, as Spring's Eureka client takes them."""
    eureka = EurekaSettings()
    scheme, rest = eureka.url.split("://", 1)
    secret = eureka.password.get_secret_value()
    return f"{scheme}://{eureka.username}:{secret}@{rest.rstrip('/')}/"


def _spring_cloud_gateway(port: int, app: str, jwks_url: str, log: Path) -> ManagedProcess:
    java_opts = os.environ.get("BENCH_PEERS_JAVA_OPTS", "").split()
    return ManagedProcess(
        ["java", *java_opts, "-jar", str(SCG_JAR)],
        {
            "PEER_GATEWAY_PORT": str(port),
            "PEER_ECHO_APP": app,
            "PEER_JWKS_URL": jwks_url,
            "PEER_ISSUER": ISSUER,
            "PEER_AUDIENCE": AUDIENCE,
            "PEER_EUREKA_URL": _eureka_url_with_credentials(),
        },
        log,
        http_port=port,
    )


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, token: str, *, connections: int, seconds: int) -> dict[str, float]:
    """One wrk run: requests/s (2xx answers only), p50 and p99 in ms, and the failures counted
    (timeouts, socket errors, non-2xx) rather than fatal: on a machine shared with other work a
    slow start must not end the whole comparison."""
    out = subprocess.run(
        [
            *("wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency"),
            *("-H", f"Authorization: Bearer {token}", url),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout

    def number(pattern: str) -> float:
        match = re.search(pattern, out, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"no match for {pattern!r} in wrk output:\n{out}")
        return float(match.group(1)) * (_UNITS[match.group(2)] if match.lastindex == 2 else 1)

    requests = number(r"(\d+) requests in")
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failures = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        failures += sum(int(x) for x in socket_errors.groups())
    elapsed = number(r"requests in ([\d.]+)(us|ms|s)") / 1000
    return {
        "rps": max(requests - failures, 0) / elapsed,
        "p50_ms": number(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$"),
        "p99_ms": number(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$"),
        "failures": failures,
    }


def warm_up(url: str, token: str) -> int:
    """Unmeasured load in short wrk runs until WARMUP_REQUESTS were answered (or WARMUP_SECONDS
    passed): connections, caches and, above all, a JVM's JIT compiler. Returns the requests
    served."""
    served = 0
    elapsed = 0
    while served < WARMUP_REQUESTS and elapsed < WARMUP_SECONDS:
        chunk = min(WARMUP_CHUNK_SECONDS, WARMUP_SECONDS - elapsed)
        served += round(wrk(url, token, connections=CONNECTIONS, seconds=chunk)["rps"] * chunk)
        elapsed += chunk
    return served


def _pid(process: ManagedProcess) -> int:
    assert process.process is not None
    return process.process.pid


def _measure(pid: int, url: str, token: str) -> dict[str, float]:
    """Latency at one connection, then throughput with the CPU the process tree spent on it."""
    latency = wrk(url, token, connections=1, seconds=SECONDS)
    cpu_before = procstat.cpu_seconds(pid) if pid else 0.0
    load = wrk(url, token, connections=CONNECTIONS, seconds=SECONDS)
    cpu_used = procstat.cpu_seconds(pid) - cpu_before if pid else 0.0
    requests = load["rps"] * SECONDS
    return {
        "rps": load["rps"],
        "p50_ms": latency["p50_ms"],
        "p99_ms": latency["p99_ms"],
        "loaded_p50_ms": load["p50_ms"],
        "loaded_p99_ms": load["p99_ms"],
        "cpu_ms_per_request": cpu_used * 1000 / requests if pid and requests else 0.0,
        "failures": latency["failures"] + load["failures"],
    }


def run() -> dict[str, Any]:
    """Start the upstream and the three gateways, measure them in alternating rounds."""
    if shutil.which("wrk") is None:
        raise SystemExit("the gateway comparison needs wrk: apt-get install wrk")
    if not SCG_JAR.exists():
        raise SystemExit(f"{SCG_JAR} missing: `make bench-peers` builds it")
    token, jwks = signed_token()
    app = f"BENCH-ECHO-{uuid.uuid4().hex[:8].upper()}"
    logs = Path(tempfile.mkdtemp(prefix="peer-gateway-"))
    upstream_port = free_port()
    jwks_url = f"http://127.0.0.1:{upstream_port}/jwks.json"
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
    contenders: dict[str, ManagedProcess] = {}
    for name, cache_size in (("ours", None), ("ours_no_cache", "0")):
        port = free_port()
        env = {
            "GATEWAY_PORT": str(port),
            "GATEWAY_ROUTES": json.dumps({"/api/echo": app}),
            "JWKS_URL": jwks_url,
            "EUREKA_URL": layout.EUREKA_URL,
            "GATEWAY_WORKERS": str(WORKERS),
        }
        if cache_size is not None:
            env["GATEWAY_TOKEN_CACHE_SIZE"] = cache_size
        contenders[name] = ManagedProcess(
            [sys.executable, "-m", "gateway"], env, logs / f"{name}.log", http_port=port
        )
    contenders[PEER] = _spring_cloud_gateway(free_port(), app, jwks_url, logs / f"{PEER}.log")
    urls = {"direct": f"http://127.0.0.1:{upstream_port}{PATH}"} | {
        name: f"http://127.0.0.1:{p.http_port}{PATH}" for name, p in contenders.items()
    }
    started: list[ManagedProcess] = []
    headers = {"Authorization": f"Bearer {token}"}
    try:
        upstream.start()
        started.append(upstream)
        wait_for(upstream.health, timeout=60, what="the echo upstream /health")
        for name, process in contenders.items():
            process.start()
            started.append(process)

            def routed(url: str = urls[name]) -> bool:
                try:
                    return httpx.get(url, headers=headers, timeout=5).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_for(routed, timeout=300, what=f"{name} to route to the upstream")
        pids = {"direct": 0} | {name: _pid(p) for name, p in contenders.items()}
        warmup_requests = {name: warm_up(url, token) for name, url in urls.items()}
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in urls}
        order = list(contenders)
        load_before = os.getloadavg()[0]
        for round_index in range(ROUNDS):
            runs["direct"].append(_measure(0, urls["direct"], token))
            # Rotating the order: no contender always runs right after the direct run.
            shift = round_index % len(order)
            for name in order[shift:] + order[:shift]:
                runs[name].append(_measure(pids[name], urls[name], token))
        memory = {
            name: {
                "rss_mib": round(procstat.rss_mib(pids[name]), 1),
                "peak_rss_mib": round(procstat.peak_rss_mib(pids[name]), 1),
            }
            for name in contenders
        }
    finally:
        for process in reversed(started):
            process.stop()
        shutil.rmtree(logs, ignore_errors=True)
    return summarise(runs, memory) | {
        "seconds_per_run": SECONDS,
        "warmup_requests_target": WARMUP_REQUESTS,
        "warmup_seconds_limit": WARMUP_SECONDS,
        "warmup_requests": warmup_requests,
        "rounds": ROUNDS,
        "connections": CONNECTIONS,
        "load_average_before": round(load_before, 2),
        "java_opts": os.environ.get("BENCH_PEERS_JAVA_OPTS", ""),
        "gateway_workers": WORKERS,
    }


def summarise(
    runs: dict[str, list[dict[str, float]]], memory: dict[str, dict[str, float]]
) -> dict[str, Any]:
    """Per contender: medians over the rounds, added latency against the same round's direct
    run, CPU and memory; then ours against the peer as ratios (ours / peer)."""
    direct = runs["direct"]
    contenders: dict[str, dict[str, float]] = {}
    for name, own in runs.items():
        if name == "direct":
            continue
        pairs = list(zip(direct, own, strict=True))
        contenders[name] = {
            "rps": round(statistics.median(r["rps"] for r in own), 1),
            "p50_ms": round(statistics.median(r["p50_ms"] for r in own), 3),
            "p99_ms": round(statistics.median(r["p99_ms"] for r in own), 3),
            "added_p50_ms": round(
                statistics.median(g["p50_ms"] - d["p50_ms"] for d, g in pairs), 3
            ),
            "added_p99_ms": round(
                statistics.median(g["p99_ms"] - d["p99_ms"] for d, g in pairs), 3
            ),
            "cpu_ms_per_request": round(statistics.median(r["cpu_ms_per_request"] for r in own), 4),
            "failures": sum(r["failures"] for r in own),
            **memory.get(name, {}),
        }
    direct_summary = {
        "rps": round(statistics.median(r["rps"] for r in direct), 1),
        "p50_ms": round(statistics.median(r["p50_ms"] for r in direct), 3),
        "p99_ms": round(statistics.median(r["p99_ms"] for r in direct), 3),
    }
    peer = contenders[PEER]
    ratios = {
        name: ratios_against(values, peer) for name, values in contenders.items() if name != PEER
    }
    return {
        "benchmark": "gateway_vs_spring_cloud_gateway",
        "request": f"GET {PATH} with an RS256 bearer token, routed through Eureka",
        "direct": direct_summary,
        "contenders": contenders,
        "ratios_ours_over_peer": ratios,
        "runs": runs,
    }
