"""``make bench``: every benchmark, one JSON document each on stdout."""

from bench import gateway_bench, live_status_bench, pix_bench, relay_bench, saga_bench

relay_bench.main()
gateway_bench.main()
saga_bench.main()
live_status_bench.main()
pix_bench.main()
