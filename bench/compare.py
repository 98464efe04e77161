"""``make bench-peers``: our gateway against Spring Cloud Gateway and our outbox relay against
Debezium, in one run (bench/peer_gateway.py, bench/peer_relay.py).

Prints one JSON document: the machine, when, each comparison's figures and the ratios ours /
peer. The full result (with every run and every latency sample) goes to var/bench/peers.json, and
its figures to var/bench/*.png (bench/figures.py).
"""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import UTC, datetime
from typing import Any

from bench import figures, peer_gateway, peer_relay
from devstack import layout

OUTPUT = layout.VAR / "bench"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def without_samples(result: dict[str, Any]) -> dict[str, Any]:
    """The result as printed: every figure, not the per-run lists and latency samples."""
    printed = json.loads(json.dumps(result))
    printed.get("gateway", {}).pop("runs", None)
    for contender in printed.get("relay", {}).get("contenders", {}).values():
        contender.pop("latency_delays_ms", None)
    return printed


def main() -> None:
    """Run both comparisons, save, draw, print."""
    result: dict[str, Any] = {
        "benchmark": "peers",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
    }
    result["gateway"] = peer_gateway.run()
    result["relay"] = peer_relay.run()
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "peers.json").write_text(json.dumps(result, indent=2))
    for path in figures.draw_peers(result, OUTPUT):
        print(f"bench-peers: drew {path}", file=sys.stderr)
    print(json.dumps(without_samples(result), indent=2))


if __name__ == "__main__":
    main()
