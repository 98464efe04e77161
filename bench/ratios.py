"""Figures derived from the benchmarks' results: ours against a peer (the ratios `make
bench-peers` prints) and the saga's knee."""

from __future__ import annotations

from typing import Any

# The knee of the saga's rate sweep: the highest rate whose p99 stays within this.
KNEE_P99_MS = 1000.0

# Which way is better for each figure a ratio is taken of.
HIGHER_IS_BETTER = frozenset({"rps", "events_per_s"})
RATIO_KEYS = (
    "rps",
    "events_per_s",
    "added_p50_ms",
    "added_p99_ms",
    "latency_p50_ms",
    "latency_p99_ms",
    "cpu_ms_per_request",
    "cpu_us_per_event",
    "rss_mib",
    "peak_rss_mib",
)


def ratios_against(ours: dict[str, float], peer: dict[str, float]) -> dict[str, float | None]:
    """ours / peer for every figure both have (None where the peer's is 0 or negative: an added
    latency can come out at or below zero on a noisy machine)."""
    ratios: dict[str, float | None] = {}
    for key in RATIO_KEYS:
        if key in ours and key in peer:
            ratios[key] = round(ours[key] / peer[key], 3) if peer[key] > 0 else None
    return ratios


def knee(sweep: list[dict[str, Any]], limit_ms: float = KNEE_P99_MS) -> float | None:
    """The highest rate of a sweep whose p99 is within ``limit_ms`` with every order confirmed
    (None if no rate is)."""
    good = [
        float(step["target_rate_per_s"])
        for step in sweep
        if step.get("latency_ms_p99") is not None
        and float(step["latency_ms_p99"]) <= limit_ms
        and step.get("confirmed") == step.get("orders_sent")
    ]
    return max(good) if good else None
