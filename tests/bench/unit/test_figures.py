"""The benchmarks' derived figures (ratios against a peer, the saga's knee) and their pictures,
on hand-made results: no engine, no timing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import figures
from bench.ratios import knee, ratios_against

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def step(
    rate: float, p99: float | None, *, confirmed: int = 100, sent: int = 100
) -> dict[str, Any]:
    return {
        "target_rate_per_s": rate,
        "latency_ms_p99": p99,
        "confirmed": confirmed,
        "orders_sent": sent,
        "latencies_ms": [p99 / 4, p99 / 2, p99] if p99 is not None else [],
    }


def test_ratio_is_ours_over_the_peer_for_figures_both_have() -> None:
    ours = {"rps": 3000.0, "added_p50_ms": 0.4, "rss_mib": 100.0, "only_ours": 1.0}
    peer = {"rps": 1500.0, "added_p50_ms": 0.8, "rss_mib": 400.0}
    assert ratios_against(ours, peer) == {"rps": 2.0, "added_p50_ms": 0.5, "rss_mib": 0.25}


def test_ratio_against_a_zero_or_negative_peer_figure_is_none() -> None:
    # An added latency can come out at or below zero on a noisy machine: no meaningful ratio.
    assert ratios_against({"added_p50_ms": 0.3}, {"added_p50_ms": 0.0}) == {"added_p50_ms": None}
    assert ratios_against({"added_p50_ms": 0.3}, {"added_p50_ms": -0.1}) == {"added_p50_ms": None}


def test_knee_is_the_highest_rate_within_the_p99_limit() -> None:
    sweep = [step(25, 120), step(50, 300), step(75, 990), step(100, 4000)]
    assert knee(sweep) == 75


def test_knee_ignores_a_rate_that_left_orders_unconfirmed() -> None:
    sweep = [step(25, 120), step(50, 300, confirmed=98)]
    assert knee(sweep) == 25


def test_no_knee_when_every_rate_misses() -> None:
    assert knee([step(25, 1500), step(50, None)]) is None


def saga_result() -> dict[str, Any]:
    sweep = [step(25, 120), step(50, 300), step(100, 4000)]
    return {
        **sweep[1],
        "cpu_ms_per_order": {"postgres": 9.1, "order_service": 7.7, "kafka": 3.9, "total": 20.7},
        "sweep": sweep,
    }


@pytest.mark.parametrize(
    ("draw", "name"),
    [
        (lambda r, d: figures.saga_latency(r["sweep"], d), "saga_latency.png"),
        (figures.saga_cpu_per_order, "saga_cpu_per_order.png"),
    ],
)
def test_saga_figures_are_png_files(draw: Any, name: str, tmp_path: Path) -> None:
    path = draw(saga_result(), tmp_path)
    assert path == tmp_path / name
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_make_bench_draws_one_picture_per_benchmark(tmp_path: Path) -> None:
    results = {
        "relay": {
            "events": 100_000,
            "producer_ceiling_events_per_s": 90_000,
            "database_ceiling_events_per_s": 60_000,
            "relay_events_per_s": 40_000,
        },
        "gateway": {
            "direct": {"rps": 4000.0, "p50_ms": 0.5, "p99_ms": 1.1},
            "gateway": {"rps": 2500.0, "p50_ms": 0.9, "p99_ms": 1.9},
        },
        "saga": saga_result(),
    }
    paths = figures.draw_bench(results, tmp_path)
    assert sorted(p.name for p in paths) == [
        "gateway.png",
        "relay.png",
        "saga_cpu_per_order.png",
        "saga_latency.png",
    ]
    assert all(p.read_bytes().startswith(PNG_SIGNATURE) for p in paths)


def test_bench_peers_draws_gateway_and_relay_against_their_peers(tmp_path: Path) -> None:
    gateway_figures = {"rps": 2000.0, "added_p50_ms": 0.4, "cpu_ms_per_request": 0.3, "rss_mib": 90}
    drain = {
        "events_per_s": 30_000.0,
        "cpu_us_per_event": 20.0,
        "database_cpu_us_per_event": 5.0,
        "peak_rss_mib": 100.0,
    }
    result = {
        "gateway": {
            "contenders": {
                "ours": gateway_figures,
                "ours_no_cache": gateway_figures,
                "spring_cloud_gateway": {**gateway_figures, "rss_mib": 480},
            }
        },
        "relay": {
            "events": 100_000,
            "latency_rate_per_s": 1000,
            "contenders": {
                "ours": {"drain": drain, "latency_delays_ms": [3.0, 4.0, 9.0]},
                "debezium": {"drain": drain, "latency_delays_ms": [12.0, 15.0, 40.0]},
            },
        },
    }
    paths = figures.draw_peers(result, tmp_path)
    assert [p.name for p in paths] == [
        "gateway_vs_spring_cloud_gateway.png",
        "relay_vs_debezium.png",
    ]
    assert all(p.read_bytes().startswith(PNG_SIGNATURE) for p in paths)
