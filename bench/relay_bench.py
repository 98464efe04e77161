"""Outbox relay throughput against its two ceilings, measured in one run.

1. ``producer_ceiling``: the confluent-kafka producer alone (same settings, same messages, built
   in advance), i.e. the fastest Kafka can take these events from one Python process;
2. ``database_ceiling``: the relay's own read query and position update alone, no Kafka;
3. ``relay``: the relay draining the whole backlog end to end, with production settings.

Prints JSON with events/s for each and ``ratio`` = relay / min(ceilings), and the CPU the relay
and its PostgreSQL backend spent per event (steadier than rates on a machine shared with other
work).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import psycopg2
import psycopg2.extras
from confluent_kafka import Producer

from bench.topics import scratch_topics
from outbox_relay.relay import FETCH_SQL, MARK_SQL, DatabaseRelay, Position, encode_message
from outbox_relay.settings import RelaySettings
from servicekit.logging import configure_logging
from servicekit.messaging.kafka import producer_config
from servicekit.settings import KafkaSettings
from tests.support import scratch_database

EVENTS = int(os.environ.get("BENCH_RELAY_EVENTS", "100000"))


def fill_outbox(url: str, aggregate_type: str, count: int) -> int:
    """Commit ``count`` events of about 300 bytes (envelope) each; returns the mean value size."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        for start in range(0, count, 10_000):
            rows = [
                (
                    str(uuid.uuid4()),
                    aggregate_type,
                    f"order-{i % 5000}",
                    "order.created",
                    orjson.dumps({"total": "129.90", "currency": "EUR"}).decode(),
                    orjson.dumps({"correlation_id": str(uuid.uuid4())}).decode(),
                )
                for i in range(start, min(start + 10_000, count))
            ]
            psycopg2.extras.execute_values(
                cur,
                "INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type, payload,"
                " headers) VALUES %s",
                rows,
                template="(%s::uuid, %s, %s, %s, %s::jsonb, %s::jsonb)",
                page_size=2000,
            )
            conn.commit()
        cur.execute(FETCH_SQL, {**Position(0, 0).sql_params(), "limit": 100})
        sizes = [len(encode_message(row)[0]) for row in cur.fetchall()[1:]]
    return sum(sizes) // len(sizes)


def reset_position(url: str) -> None:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "UPDATE outbox_relay_position"
            " SET txid = '0', last_id = 0, in_progress = '{}', published = 0"
        )


def read_all(url: str) -> list[tuple[Any, ...]]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(FETCH_SQL, {**Position(0, 0).sql_params(), "limit": EVENTS + 1})
        return cur.fetchall()[1:]


def producer_ceiling(kafka: KafkaSettings, topic: str, rows: list[tuple[Any, ...]]) -> float:
    messages = [(row[3], *encode_message(row)) for row in rows]
    producer = Producer(producer_config(kafka, client_id="bench-ceiling"))
    acked = [0]

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is None:
            acked[0] += 1

    start = time.perf_counter()
    for key, value, headers in messages:
        while True:
            try:
                producer.produce(
                    topic, key=key, value=value, headers=headers, on_delivery=on_delivery
                )
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    producer.flush(120)
    elapsed = time.perf_counter() - start
    assert acked[0] == len(messages), f"only {acked[0]} of {len(messages)} acknowledged"
    return len(messages) / elapsed


def database_ceiling(url: str, batch_size: int) -> float:
    reset_position(url)
    conn = psycopg2.connect(url, options="-c timezone=UTC")
    conn.autocommit = True
    done = 0
    position = Position(0, 0)
    start = time.perf_counter()
    with conn.cursor() as cur:
        while True:
            cur.execute(FETCH_SQL, {**position.sql_params(), "limit": batch_size})
            snapshot, *rows = cur.fetchall()
            if not rows:
                break
            for row in rows:  # the relay encodes every row too
                encode_message(row)
            position = position.after_read(rows, snapshot[1], cut=len(rows) >= batch_size)
            cur.execute(MARK_SQL, {**position.sql_params(), "published": len(rows)})
            done += len(rows)
    elapsed = time.perf_counter() - start
    conn.close()
    assert done == EVENTS, done
    return done / elapsed


def backend_cpu_seconds(probe: Any, application_name: str) -> float:
    """CPU seconds used so far by the PostgreSQL backend of the connection named so."""
    with probe.cursor() as cur:
        cur.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application_name,)
        )
        row = cur.fetchone()
    if row is None:
        return 0.0
    raw = Path(f"/proc/{row[0]}/stat").read_text()
    utime, stime = (int(x) for x in raw[raw.rindex(")") + 2 :].split()[11:13])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def relay_throughput(
    url: str, settings: RelaySettings, kafka: KafkaSettings
) -> tuple[float, float, float]:
    """Events/s, and CPU microseconds per event of the relay (this process: the publishing
    thread and librdkafka's) and of its PostgreSQL backend. CPU time, unlike the rate, hardly
    moves when other work shares the cores."""
    reset_position(url)
    relay = DatabaseRelay("bench", url, settings, kafka, producer_config(kafka, client_id="bench"))
    probe = psycopg2.connect(url)
    probe.autocommit = True
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,))
    cpu_before = time.process_time()
    start = time.perf_counter()
    thread.start()
    with probe.cursor() as cur:
        while True:
            cur.execute("SELECT published FROM outbox_relay_position")
            row = cur.fetchone()
            if row and row[0] >= EVENTS:
                break
            time.sleep(0.005)  # sampling the finish line, not synchronising the work
    elapsed = time.perf_counter() - start
    relay_cpu = time.process_time() - cpu_before
    database_cpu = backend_cpu_seconds(probe, "outbox_relay:bench")
    stop.set()
    thread.join()
    probe.close()
    return EVENTS / elapsed, relay_cpu * 1e6 / EVENTS, database_cpu * 1e6 / EVENTS


def run() -> dict[str, Any]:
    """Run the three measurements; the result as a JSON-ready dict."""
    configure_logging("bench", level="WARNING")
    kafka = KafkaSettings()
    settings = RelaySettings()
    aggregate = f"bench{uuid.uuid4().hex[:8]}"
    with scratch_database("bench") as url:
        t0 = time.perf_counter()
        value_bytes = fill_outbox(url, aggregate, EVENTS)
        fill_seconds = time.perf_counter() - t0
        rows = read_all(url)
        with scratch_topics(kafka, [f"{aggregate}.events", f"{aggregate}ceiling.events"]):
            producer = producer_ceiling(kafka, f"{aggregate}ceiling.events", rows)
            del rows
            database = database_ceiling(url, settings.batch_size)
            relay, relay_cpu_us, database_cpu_us = relay_throughput(url, settings, kafka)
    result = {
        "benchmark": "outbox_relay",
        "events": EVENTS,
        "mean_value_bytes": value_bytes,
        "batch_size": settings.batch_size,
        "max_in_flight_batches": settings.max_in_flight_batches,
        "fill_seconds": round(fill_seconds, 2),
        "producer_ceiling_events_per_s": round(producer),
        "database_ceiling_events_per_s": round(database),
        "relay_events_per_s": round(relay),
        "ratio": round(relay / min(producer, database), 3),
        "relay_cpu_us_per_event": round(relay_cpu_us, 2),
        "relay_database_backend_cpu_us_per_event": round(database_cpu_us, 2),
        "targets": {"relay_events_per_s": 20_000, "ratio": 0.5},
    }
    return result


def main() -> None:
    """Run and print JSON."""
    print(json.dumps(run(), indent=2))


if __name__ == "__main__":
    main()
