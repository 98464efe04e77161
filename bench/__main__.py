"""``make bench``: every benchmark, one JSON document each on stdout."""

from bench import relay_bench

relay_bench.main()
