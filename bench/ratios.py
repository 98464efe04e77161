"""Ours against a peer, figure by figure: the ratios `make bench-peers` prints."""

from __future__ import annotations

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
