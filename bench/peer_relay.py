"""Our outbox relay side by side with Debezium, in one run, on the same PostgreSQL and Kafka.

PostgreSQL: a cluster started for the purpose with ``wal_level = logical`` (Debezium reads the
outbox through a logical replication slot; the stack's own cluster runs with ``replica``), one
database per contender holding the platform's outbox table. Kafka: the stack's broker.

- ``ours``: outbox_relay.relay.DatabaseRelay with production settings, in its own process;
- ``debezium``: bench/peers/debezium (embedded engine, PostgreSQL connector over pgoutput, the
  outbox EventRouter, a producer with acks=all), built by ``make bench-peers``.

Two measurements, contenders alternating:
1. drain: EVENTS outbox rows committed while the relay is stopped (Debezium's slot already
   exists, so they wait in the WAL), then the relay started; events/s between the first and the
   last message reaching the topic (so a JVM's start-up is not counted), and the CPU of the relay
   process and of its PostgreSQL backends (a walsender decoding the WAL for Debezium) per event;
2. latency: LATENCY_RATE events/s committed (10 per transaction) for LATENCY_SECONDS after a
   warm-up, each timed from its commit returning to a consumer receiving it (p50/p99/max).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg2
import psycopg2.extras
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from psycopg2 import sql

from bench import procstat
from bench.ratios import ratios_against
from bench.relay_bench import fill_outbox
from bench.topics import scratch_topics
from devstack import layout
from devstack.postgres import CONF, server_bin
from servicekit.messaging.schema import MESSAGING_DDL
from servicekit.settings import KafkaSettings
from tests.support import ManagedProcess, wait_for

EVENTS = int(os.environ.get("BENCH_PEERS_RELAY_EVENTS", "100000"))
LATENCY_RATE = int(os.environ.get("BENCH_PEERS_LATENCY_RATE", "1000"))
LATENCY_SECONDS = float(os.environ.get("BENCH_PEERS_LATENCY_SECONDS", "20"))
# Unmeasured load before each latency round, in seconds at LATENCY_RATE: 20,000 events, so that
# a fresh JVM has compiled its path (at 5 s, Debezium's first round stalled for seconds).
WARMUP_SECONDS = float(os.environ.get("BENCH_PEERS_WARMUP_SECONDS", "20"))
ROUNDS = int(os.environ.get("BENCH_PEERS_RELAY_ROUNDS", "2"))
PG_PORT = int(os.environ.get("BENCH_PEERS_PG_PORT", "5433"))
EVENTS_PER_TRANSACTION = 10
PG_DIR = layout.VAR / "peers" / "pg-logical"
DEBEZIUM_DIR = layout.VAR / "peers" / "debezium"
PEER = "debezium"
WRITER = "bench-peers-writer"
LOGICAL_CONF = """
wal_level = logical
max_replication_slots = 8
max_wal_senders = 8
"""


@contextlib.contextmanager
def logical_postgres() -> Iterator[str]:
    """A throw-away PostgreSQL cluster with wal_level=logical; yields its superuser libpq URL
    for the ``postgres`` database."""
    postgres_user = pwd.getpwnam("postgres")
    shutil.rmtree(PG_DIR, ignore_errors=True)
    data, socket_dir = PG_DIR / "data", PG_DIR / "socket"
    for directory in (PG_DIR, data, socket_dir):
        directory.mkdir(parents=True, exist_ok=True)
        os.chown(directory, postgres_user.pw_uid, postgres_user.pw_gid)
    data.chmod(0o700)
    with tempfile.NamedTemporaryFile("w", delete=False, dir="/tmp") as pwfile:
        pwfile.write(layout.PG_PASSWORD + "\n")
    os.chown(pwfile.name, postgres_user.pw_uid, postgres_user.pw_gid)
    try:
        initdb = [str(server_bin() / "initdb"), "-D", str(data), "-U", layout.PG_USER]
        subprocess.run(
            [
                *("runuser", "-u", "postgres", "--", *initdb),
                *(f"--pwfile={pwfile.name}", "--auth=scram-sha-256"),
                *("--encoding=UTF8", "--locale=C.UTF-8"),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    finally:
        os.unlink(pwfile.name)
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(CONF.format(port=PG_PORT, socket_dir=socket_dir) + LOGICAL_CONF)
    pg_ctl = ["runuser", "-u", "postgres", "--", str(server_bin() / "pg_ctl"), "-D", str(data)]
    log = PG_DIR / "postgres.log"
    subprocess.run(
        [*pg_ctl, "-l", str(log), "-w", "-t", "60", "start"], check=True, stdout=subprocess.DEVNULL
    )
    url = f"postgresql://{layout.PG_USER}:{layout.PG_PASSWORD}@127.0.0.1:{PG_PORT}/postgres"

    try:
        yield url
    finally:
        # Fast shutdown: the data is thrown away anyway.
        subprocess.run([*pg_ctl, "-m", "fast", "-w", "-t", "60", "stop"], check=False)
        shutil.rmtree(PG_DIR, ignore_errors=True)


def create_database(admin_url: str, name: str) -> str:
    """A database holding the platform's messaging tables; returns its URL."""
    admin = psycopg2.connect(admin_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin.close()
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(MESSAGING_DDL)
    return url


def our_relay(url: str, log: Path) -> ManagedProcess:
    """Our relay on one database, in its own process (``python -m bench.peer_relay``; the URL,
    password included, in its environment rather than on its command line)."""
    return ManagedProcess(
        [sys.executable, "-m", "bench.peer_relay"], {"BENCH_PEERS_RELAY_URL": url}, log
    )


def debezium(url: str, slot: str, log: Path) -> ManagedProcess:
    """The Debezium peer on one database."""
    parts = psycopg2.extensions.parse_dsn(url)
    java_opts = os.environ.get("BENCH_PEERS_JAVA_OPTS", "").split()
    classpath = f"{DEBEZIUM_DIR / 'debezium-peer.jar'}:{DEBEZIUM_DIR / 'lib'}/*"
    return ManagedProcess(
        ["java", *java_opts, "-cp", classpath, "io.ordersystem.peers.debezium.OutboxRelayPeer"],
        {
            "PEER_PG_HOST": parts["host"],
            "PEER_PG_PORT": parts["port"],
            "PEER_PG_USER": parts["user"],
            "PEER_PG_PASSWORD": parts["password"],
            "PEER_PG_DATABASE": parts["dbname"],
            "PEER_KAFKA_BOOTSTRAP": KafkaSettings().bootstrap_servers,
            "PEER_SLOT": slot,
            "PEER_OFFSETS_FILE": str(log.parent / f"{slot}.offsets"),
            # Java's producer takes whole milliseconds.
            "PEER_LINGER_MS": str(round(KafkaSettings().producer_linger_ms)),
        },
        log,
    )


def _pid(process: ManagedProcess) -> int:
    assert process.process is not None
    return process.process.pid


def _alive(process: ManagedProcess) -> None:
    assert process.process is not None
    if process.process.poll() is not None:
        raise RuntimeError(f"{process.args} exited:\n{process.output()[-4000:]}")


def slot_active(url: str, slot: str, process: ManagedProcess) -> bool:
    """Whether Debezium streams from its slot (the slot exists and a walsender holds it); fails
    at once if Debezium exited."""
    _alive(process)
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,))
        row = cur.fetchone()
    return bool(row and row[0])


class BackendCpu:
    """CPU of the PostgreSQL backends serving one database (the writer's and this probe's
    excepted): the relay's queries, or the walsender decoding the WAL for Debezium."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg2.connect(url)
        self.conn.autocommit = True
        self.database = psycopg2.extensions.parse_dsn(url)["dbname"]
        self.seen: dict[int, float] = {}

    def seconds(self) -> float:
        """CPU seconds used so far by every backend seen serving the database."""
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
                " AND application_name <> %s",
                (self.database, WRITER),
            )
            for (pid,) in cur.fetchall():
                self.seen[pid] = procstat.cpu_seconds(pid) or self.seen.get(pid, 0.0)
        for pid in self.seen:
            if Path(f"/proc/{pid}").exists():
                self.seen[pid] = procstat.cpu_seconds(pid)
        return sum(self.seen.values())

    def close(self) -> None:
        """Close the probe connection."""
        self.conn.close()


def _consumer(group: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": KafkaSettings().bootstrap_servers,
            "group.id": group,
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 5,
            "fetch.min.bytes": 1,
        }
    )


def topic_count(consumer: Consumer, topic: str) -> int:
    """Messages in a topic (the sum of its partitions' high watermarks; it starts empty)."""
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    return sum(
        consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions
    )


def drain(process: ManagedProcess, url: str, topic: str, expected: int) -> dict[str, float]:
    """Start the relay on a full outbox and time it from the first to the last message."""
    consumer = _consumer(f"bench-peers-{uuid.uuid4().hex[:8]}")
    backends = BackendCpu(url)
    process.start()
    pid = _pid(process)
    try:
        first: tuple[float, int, float, float] | None = None
        deadline = time.monotonic() + 600
        while True:
            _alive(process)
            count = topic_count(consumer, topic)
            now = time.monotonic()
            if count > 0 and first is None:
                first = (now, count, procstat.cpu_seconds(pid), backends.seconds())
            if count >= expected:
                break
            if now > deadline:
                raise RuntimeError(f"only {count} of {expected} events in {topic} after 600 s")
            time.sleep(0.02)  # sampling the finish line, not synchronising the work
        assert first is not None
        events = count - first[1]
        seconds = now - first[0]
        relay_cpu = procstat.cpu_seconds(pid) - first[2]
        database_cpu = backends.seconds() - first[3]
        result = {
            "events_per_s": round(events / seconds, 1),
            "timed_events": events,
            "cpu_us_per_event": round(relay_cpu * 1e6 / events, 2),
            "database_cpu_us_per_event": round(database_cpu * 1e6 / events, 2),
            "rss_mib": round(procstat.rss_mib(pid), 1),
            "peak_rss_mib": round(procstat.peak_rss_mib(pid), 1),
        }
    finally:
        consumer.close()
        backends.close()
    return result


def _write_events(url: str, aggregate: str, rate: int, seconds: float) -> dict[str, float]:
    """Commit ``rate`` events/s (EVENTS_PER_TRANSACTION per transaction), open loop; returns
    event id -> the time its commit returned."""
    committed: dict[str, float] = {}
    conn = psycopg2.connect(url, application_name=WRITER)
    transactions = int(rate * seconds / EVENTS_PER_TRANSACTION)
    start = time.time()
    with conn.cursor() as cur:
        for i in range(transactions):
            time.sleep(max(0.0, start + i * EVENTS_PER_TRANSACTION / rate - time.time()))
            ids = [str(uuid.uuid4()) for _ in range(EVENTS_PER_TRANSACTION)]
            psycopg2.extras.execute_values(
                cur,
                "INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type, payload,"
                " headers) VALUES %s",
                [
                    (
                        event_id,
                        aggregate,
                        f"order-{i % 5000}",
                        "order.created",
                        '{"total": "129.90", "currency": "EUR"}',
                        orjson.dumps({"correlation_id": event_id}).decode(),
                    )
                    for event_id in ids
                ],
                template="(%s::uuid, %s, %s, %s, %s::jsonb, %s::jsonb)",
            )
            conn.commit()
            now = time.time()
            for event_id in ids:
                committed[event_id] = now
    conn.close()
    return committed


def latency(
    process: ManagedProcess, url: str, aggregate: str, slot: str | None = None
) -> dict[str, Any]:
    """Commit-to-consume latency at LATENCY_RATE, after an unmeasured warm-up at that rate;
    ``slot``: Debezium's, to wait until it streams before writing."""
    topic = f"{aggregate}.events"
    received: dict[str, float] = {}
    stop = threading.Event()
    consumer = _consumer(f"bench-peers-{uuid.uuid4().hex[:8]}")
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])

    def consume() -> None:
        while not stop.is_set():
            message = consumer.poll(0.1)
            if message is None or message.error():
                continue
            now = time.time()
            raw = message.headers() or []
            for key, value in raw.items() if isinstance(raw, dict) else raw:
                # Ours names the header event_id; Debezium's EventRouter names it id.
                if key in ("event_id", "id") and isinstance(value, bytes):
                    received[value.decode()] = now
                    break

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    backends = BackendCpu(url)
    process.start()
    pid = _pid(process)
    try:
        if slot is not None:
            wait_for(lambda: slot_active(url, slot, process), timeout=120, what="debezium's slot")
        # Ready when one event makes the whole trip: the relay and the consumer are both up.
        probe = _write_events(url, aggregate, EVENTS_PER_TRANSACTION, 1)

        def probe_arrived() -> bool:
            _alive(process)
            return all(e in received for e in probe)

        wait_for(probe_arrived, timeout=120, what="a first event through the relay")
        _write_events(url, aggregate, LATENCY_RATE, WARMUP_SECONDS)
        _alive(process)
        cpu_before, database_before = procstat.cpu_seconds(pid), backends.seconds()
        committed = _write_events(url, aggregate, LATENCY_RATE, LATENCY_SECONDS)
        deadline = time.time() + 30
        while time.time() < deadline and any(e not in received for e in committed):
            time.sleep(0.05)  # waiting for the stragglers, bounded
        relay_cpu = procstat.cpu_seconds(pid) - cpu_before
        database_cpu = backends.seconds() - database_before
        rss = procstat.rss_mib(pid)
    finally:
        stop.set()
        thread.join(5)
        consumer.close()
        backends.close()
        process.stop()
    delays = sorted((received[e] - t) * 1000 for e, t in committed.items() if e in received)
    if not delays:
        raise RuntimeError(f"no event reached {topic}:\n{process.output()[-4000:]}")
    return {
        "latency_p50_ms": round(statistics.median(delays), 2),
        "latency_p99_ms": round(delays[max(0, int(len(delays) * 0.99) - 1)], 2),
        "latency_max_ms": round(delays[-1], 2),
        "events": len(committed),
        "lost": len(committed) - len(delays),
        "cpu_us_per_event": round(relay_cpu * 1e6 / len(committed), 2),
        "database_cpu_us_per_event": round(database_cpu * 1e6 / len(committed), 2),
        "rss_mib": round(rss, 1),
        "delays_ms": [round(d, 2) for d in delays],
    }


def run() -> dict[str, Any]:
    """Both relays, drain then latency, alternating; JSON-ready."""
    if not (DEBEZIUM_DIR / "debezium-peer.jar").exists():
        raise SystemExit(f"{DEBEZIUM_DIR} has no debezium-peer.jar: `make bench-peers` builds it")
    logs = Path(tempfile.mkdtemp(prefix="peer-relay-"))
    kafka = KafkaSettings()
    tag = uuid.uuid4().hex[:8]
    drains: dict[str, dict[str, float]] = {}
    latencies: dict[str, list[dict[str, Any]]] = {"ours": [], PEER: []}
    with logical_postgres() as admin_url:
        urls = {name: create_database(admin_url, f"peers_{name}") for name in ("ours", PEER)}
        # One Debezium slot per database name: it is created by the first start and keeps the
        # WAL from then on, so the drain's rows wait for it exactly as ours wait in the table.
        slot = f"bench_{tag}"

        def contender(name: str, phase: str) -> ManagedProcess:
            log = logs / f"{name}-{phase}.log"
            if name == PEER:
                return debezium(urls[name], slot, log)
            return our_relay(urls[name], log)

        aggregates = [f"peers{tag}{name[:3]}drain" for name in ("ours", PEER)]
        aggregates += [f"peers{tag}{n[:3]}lat{r}" for r in range(ROUNDS) for n in ("ours", PEER)]
        with scratch_topics(kafka, [f"{a}.events" for a in aggregates]):
            first_start = contender(PEER, "slot")
            first_start.start()
            try:
                wait_for(
                    lambda: slot_active(urls[PEER], slot, first_start), timeout=120, what="the slot"
                )
            finally:
                first_start.stop()
            for name in ("ours", PEER):
                aggregate = f"peers{tag}{name[:3]}drain"
                fill_outbox(urls[name], aggregate, EVENTS)
                process = contender(name, "drain")
                try:
                    drains[name] = drain(process, urls[name], f"{aggregate}.events", EVENTS)
                finally:
                    process.stop()
            for round_index in range(ROUNDS):
                for name in ("ours", PEER) if round_index % 2 == 0 else (PEER, "ours"):
                    aggregate = f"peers{tag}{name[:3]}lat{round_index}"
                    process = contender(name, f"latency{round_index}")
                    latencies[name].append(
                        latency(process, urls[name], aggregate, slot if name == PEER else None)
                    )
    shutil.rmtree(logs, ignore_errors=True)
    return summarise(drains, latencies)


def summarise(
    drains: dict[str, dict[str, float]], latencies: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """Medians over the latency rounds, the drain figures, and ours / Debezium's."""
    contenders: dict[str, dict[str, Any]] = {}
    for name, runs in latencies.items():
        contenders[name] = {
            "drain": drains[name],
            "latency": {
                key: statistics.median(float(r[key]) for r in runs)
                for key in (
                    "latency_p50_ms",
                    "latency_p99_ms",
                    "latency_max_ms",
                    "cpu_us_per_event",
                    "database_cpu_us_per_event",
                    "rss_mib",
                )
            }
            | {"lost": sum(int(r["lost"]) for r in runs), "events": sum(r["events"] for r in runs)},
            "latency_delays_ms": [d for r in runs for d in r["delays_ms"]],
        }
    ours, peer = contenders["ours"], contenders[PEER]
    return {
        "benchmark": "outbox_relay_vs_debezium",
        "events": EVENTS,
        "latency_rate_per_s": LATENCY_RATE,
        "latency_seconds": LATENCY_SECONDS,
        "rounds": ROUNDS,
        "contenders": contenders,
        "ratios_ours_over_peer": {
            "drain": ratios_against(ours["drain"], peer["drain"]),
            "latency": ratios_against(ours["latency"], peer["latency"]),
        },
    }


def _run_our_relay(url: str) -> None:
    """The process ``our_relay`` starts: one DatabaseRelay until SIGTERM."""
    from outbox_relay.relay import DatabaseRelay
    from outbox_relay.settings import RelaySettings
    from servicekit.logging import configure_logging
    from servicekit.messaging.kafka import producer_config

    configure_logging("bench", level="WARNING")
    kafka = KafkaSettings()
    relay = DatabaseRelay(
        "peers", url, RelaySettings(), kafka, producer_config(kafka, client_id="bench-peers")
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    relay.run(stop)


if __name__ == "__main__":
    _run_our_relay(os.environ["BENCH_PEERS_RELAY_URL"])
