"""Which partition a keyed message goes to, as the relay's producer chooses it.

confluent-kafka's producers use librdkafka's default partitioner, ``consistent_random``: a
message with a key goes to partition ``crc32(key) % partition_count`` (the CRC-32 of zlib), one
without a key to a random one. The relay sets no partitioner, so an order's events are all on
this partition of each topic, and a trace reads only it. tests/ops_service/integration/
test_partitioner.py holds this to what a real producer does. (Adding partitions to a topic moves
keys: messages written before sit on the partition of the old count, which a trace misses.)
"""

from __future__ import annotations

import zlib


def partition_for_key(key: bytes, partitions: int) -> int:
    """The partition librdkafka's default partitioner picks for ``key`` among ``partitions``."""
    if partitions < 1:
        raise ValueError("a topic has at least one partition")
    return zlib.crc32(key) % partitions
