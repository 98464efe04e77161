"""Pictures of the benchmarks' JSON, one per benchmark, drawn with matplotlib into PNG files.

- saga_latency.png: the saga's latency distribution at each rate of the sweep, the knee marked
  (the highest rate whose p99 stays within KNEE_P99_MS);
- saga_cpu_per_order.png: CPU milliseconds per order by process at the nominal rate;
- relay.png, gateway.png: ``make bench``'s relay against its ceilings, the gateway against a
  direct call;
- relay_vs_debezium.png, gateway_vs_spring_cloud_gateway.png: ``make bench-peers``.

Every function takes the JSON document a benchmark printed and a folder, and returns the path it
wrote; nothing is drawn at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bench.ratios import KNEE_P99_MS, knee

OURS_COLOUR = "#1f77b4"
PEER_COLOUR = "#d62728"
OTHER_COLOUR = "#7f7f7f"


def _figure(width: float, height: float) -> Figure:
    # Figure() rather than pyplot: no global state and no GUI backend, safe in any process.
    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _save(figure: Figure, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    figure.savefig(path)
    return path


def _bars(axes: Axes, labels: list[str], values: list[float], title: str, unit: str) -> None:
    colours = [PEER_COLOUR if "debezium" in lb or "spring" in lb else OURS_COLOUR for lb in labels]
    bars = axes.bar(labels, values, color=colours)
    texts = [f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}" for v in values]
    axes.bar_label(bars, labels=texts, fontsize=8)
    axes.set_title(title, fontsize=10)
    axes.set_ylabel(unit)
    axes.tick_params(axis="x", labelsize=8, rotation=15)
    axes.margins(y=0.15)


def saga_latency(sweep: list[dict[str, Any]], folder: Path) -> Path:
    """Latency distribution per rate (box: p25-p75, whiskers p1-p99), the knee marked."""
    figure = _figure(9, 5)
    axes = figure.add_subplot()
    steps = [s for s in sweep if s.get("latencies_ms")]
    rates = [float(s["target_rate_per_s"]) for s in steps]
    axes.boxplot(
        [s["latencies_ms"] for s in steps],
        positions=list(range(len(steps))),
        whis=(1, 99),
        showfliers=False,
    )
    axes.plot(
        range(len(steps)),
        [s["latency_ms_p99"] for s in steps],
        "o-",
        color=PEER_COLOUR,
        label="p99",
    )
    axes.axhline(
        KNEE_P99_MS, color=OTHER_COLOUR, linestyle="--", label=f"p99 limit {KNEE_P99_MS:g} ms"
    )
    best = knee(sweep)
    if best is not None and best in rates:
        axes.axvline(rates.index(best), color="#2ca02c", linestyle=":", label=f"knee {best:g}/s")
    axes.set_xticks(range(len(steps)), [f"{r:g}/s" for r in rates])
    axes.set_yscale("log")
    axes.set_xlabel("orders per second (open loop, through the gateway)")
    axes.set_ylabel("POST /api/orders to order.confirmed committed (ms, log)")
    axes.set_title("Saga latency by rate: box p25-p75, whiskers p1-p99, median line")
    axes.legend(loc="best", fontsize=8)
    return _save(figure, folder, "saga_latency.png")


def saga_cpu_per_order(saga: dict[str, Any], folder: Path) -> Path:
    """CPU per order by process at the nominal rate, largest first."""
    used = {k: float(v) for k, v in saga["cpu_ms_per_order"].items() if k != "total"}
    names = sorted(used, key=lambda name: used[name])
    figure = _figure(8, 0.35 * len(names) + 1.5)
    axes = figure.add_subplot()
    bars = axes.barh(names, [used[n] for n in names], color=OURS_COLOUR)
    axes.bar_label(bars, labels=[f"{used[n]:.2f}" for n in names], fontsize=8)
    total = saga["cpu_ms_per_order"].get("total")
    axes.set_title(
        f"CPU per order by process at {saga['target_rate_per_s']:g} orders/s (total {total} ms)",
        fontsize=10,
    )
    axes.set_xlabel("CPU milliseconds per order")
    axes.margins(x=0.15)
    return _save(figure, folder, "saga_cpu_per_order.png")


def relay(result: dict[str, Any], folder: Path) -> Path:
    """The relay's rate against its two ceilings."""
    figure = _figure(6, 4)
    labels = ["producer ceiling", "database ceiling", "relay"]
    values = [
        float(result["producer_ceiling_events_per_s"]),
        float(result["database_ceiling_events_per_s"]),
        float(result["relay_events_per_s"]),
    ]
    _bars(
        figure.add_subplot(),
        labels,
        values,
        f"Outbox relay, {result['events']:,} events",
        "events/s",
    )
    return _save(figure, folder, "relay.png")


def gateway(result: dict[str, Any], folder: Path) -> Path:
    """Direct against through the gateway: throughput and latency."""
    figure = _figure(9, 4)
    left, right = figure.subplots(1, 2)
    direct, through = result["direct"], result["gateway"]
    _bars(left, ["direct", "gateway"], [direct["rps"], through["rps"]], "Throughput", "requests/s")
    _bars(
        right,
        ["direct p50", "gateway p50", "direct p99", "gateway p99"],
        [direct["p50_ms"], through["p50_ms"], direct["p99_ms"], through["p99_ms"]],
        "Latency at 1 connection",
        "ms",
    )
    return _save(figure, folder, "gateway.png")


def gateway_vs_peer(result: dict[str, Any], folder: Path) -> Path:
    """Our gateway (with and without its token cache) against Spring Cloud Gateway."""
    contenders = result["contenders"]
    labels = list(contenders)
    figure = _figure(11, 7)
    grid = figure.subplots(2, 2)
    panels = (
        ("rps", "Throughput", "requests/s"),
        ("added_p50_ms", "Added latency p50 (1 connection)", "ms"),
        ("cpu_ms_per_request", "CPU per request (gateway process)", "ms"),
        ("rss_mib", "Resident memory after the runs", "MiB"),
    )
    for axes, (key, title, unit) in zip(grid.flat, panels, strict=True):
        _bars(axes, labels, [float(contenders[n][key]) for n in labels], title, unit)
    figure.suptitle("Gateway against Spring Cloud Gateway (same upstream, token, Eureka)")
    return _save(figure, folder, "gateway_vs_spring_cloud_gateway.png")


def relay_vs_peer(result: dict[str, Any], folder: Path) -> Path:
    """Our relay against Debezium: drain rate, CPU per event, memory, latency distribution."""
    contenders = result["contenders"]
    labels = list(contenders)
    figure = _figure(11, 7)
    grid = figure.subplots(2, 2)
    _bars(
        grid[0][0],
        labels,
        [float(contenders[n]["drain"]["events_per_s"]) for n in labels],
        f"Drain of {result['events']:,} events",
        "events/s",
    )
    relay_cpu = [float(contenders[n]["drain"]["cpu_us_per_event"]) for n in labels]
    database_cpu = [float(contenders[n]["drain"]["database_cpu_us_per_event"]) for n in labels]
    axes = grid[0][1]
    axes.bar(labels, relay_cpu, color=[_colour(n) for n in labels], label="relay process")
    axes.bar(labels, database_cpu, bottom=relay_cpu, color=OTHER_COLOUR, label="PostgreSQL")
    axes.set_title("CPU per event during the drain", fontsize=10)
    axes.set_ylabel("µs")
    axes.legend(fontsize=8)
    _bars(
        grid[1][0],
        labels,
        [float(contenders[n]["drain"]["peak_rss_mib"]) for n in labels],
        "Peak resident memory (drain)",
        "MiB",
    )
    axes = grid[1][1]
    for name in labels:
        delays = sorted(contenders[name].get("latency_delays_ms", []))
        if delays:
            share = [(i + 1) / len(delays) for i in range(len(delays))]
            axes.plot(delays, share, color=_colour(name), label=name)
    axes.set_xscale("log")
    axes.set_xlabel("commit to consume (ms, log)")
    axes.set_ylabel("share of events")
    axes.set_title(f"Latency at {result['latency_rate_per_s']:,} events/s", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.suptitle("Outbox relay against Debezium (same PostgreSQL, same Kafka, acks=all)")
    return _save(figure, folder, "relay_vs_debezium.png")


def _colour(name: str) -> str:
    return PEER_COLOUR if name in ("debezium", "spring_cloud_gateway") else OURS_COLOUR


def draw_peers(result: dict[str, Any], folder: Path) -> list[Path]:
    """The two pictures of a ``make bench-peers`` result."""
    return [gateway_vs_peer(result["gateway"], folder), relay_vs_peer(result["relay"], folder)]


def draw_bench(results: dict[str, Any], folder: Path) -> list[Path]:
    """The pictures of a ``make bench`` result (keys relay, gateway, saga)."""
    saga = results["saga"]
    return [
        relay(results["relay"], folder),
        gateway(results["gateway"], folder),
        saga_latency(saga.get("sweep") or [saga], folder),
        saga_cpu_per_order(saga, folder),
    ]
