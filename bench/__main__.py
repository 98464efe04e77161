"""``make bench``: every benchmark, one JSON document each on stdout. The relay's, the gateway's
and the saga's (with every latency sample) are also kept in var/bench/bench.json and drawn into
var/bench/*.png (bench/figures.py), with the last ``make bench-peers`` (var/bench/peers.json)
drawn again beside them."""

import json
import sys

from bench import figures, gateway_bench, live_status_bench, pix_bench, relay_bench, saga_bench
from devstack import layout

OUTPUT = layout.VAR / "bench"


def main() -> None:
    """Run, print, save, draw."""
    results = {"relay": relay_bench.run()}
    print(json.dumps(results["relay"], indent=2), flush=True)
    results["gateway"] = gateway_bench.run()
    print(json.dumps(results["gateway"], indent=2), flush=True)
    results["saga"] = saga_bench.run()
    print(json.dumps(saga_bench.printable(results["saga"]), indent=2), flush=True)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "bench.json").write_text(json.dumps(results, indent=2))
    drawn = figures.draw_bench(results, OUTPUT)
    peers = OUTPUT / "peers.json"
    if peers.exists():
        drawn += figures.draw_peers(json.loads(peers.read_text()), OUTPUT)
    for path in drawn:
        print(f"bench: drew {path}", file=sys.stderr)
    live_status_bench.main()
    pix_bench.main()


main()
