"""Publishing one database's outbox to Kafka.

Correctness rests on three rules (ARCHITECTURE.md, "Outbox table"):

* **Nothing is skipped.** Rows are read in ``(txid, id)`` order, and only rows whose transaction id
  is below ``pg_snapshot_xmin(pg_current_snapshot())``: every transaction below that watermark has
  finished, so no row can later appear behind the relay's position, however out of order the
  writers commit. A long-open transaction delays publishing; it never loses a row.
* **Nothing is marked early.** The position in ``outbox_relay_position`` only moves past a batch
  once Kafka acknowledged every message of it (idempotent producer, ``acks=all``). A crash replays
  from the last mark: duplicates are possible, loss is not; the inbox removes the duplicates.
* **One publisher per database.** The relay holds a session advisory lock on the connection it does
  all its work on; a second relay waits as a hot standby and takes over when the lock is freed
  (the leader's connection dies with its process).

Throughput comes from batching (one query reads thousands of rows with the envelope already built
in SQL) and pipelining (several batches in flight to Kafka while the next one is read).
"""

from __future__ import annotations

import contextlib
import select
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg2
import psycopg2.extensions
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from outbox_relay import metrics
from outbox_relay.settings import RelaySettings
from servicekit.failpoints import failpoint
from servicekit.logging import get_logger
from servicekit.messaging.envelope import topic_for
from servicekit.messaging.kafka import KafkaHeaders, ensure_topics
from servicekit.messaging.schema import NOTIFY_CHANNEL
from servicekit.settings import KafkaSettings

log = get_logger(__name__)

# Session advisory lock that makes one relay the leader of a database; any constant would do,
# it only has to be the same for every relay instance.
LEADER_LOCK_KEY = 0x0B0C_5E1A

# Columns are qualified so that ORDER BY means the xid8 column (ordered by the index), not the
# text rendering of it in the select list, which would sort "999" after "1000".
FETCH_SQL = """
SELECT o.id, o.txid::text, o.aggregate_type, o.aggregate_id, o.event_id::text, o.event_type,
       o.event_version, o.headers::text, o.payload::text, o.created_at::text
FROM outbox o
WHERE (o.txid, o.id) > (%s::xid8, %s)
  AND o.txid < (SELECT pg_snapshot_xmin(pg_current_snapshot()))
ORDER BY o.txid, o.id
LIMIT %s
"""

MARK_SQL = """
UPDATE outbox_relay_position
SET txid = %s::xid8, last_id = %s, published = published + %s, updated_at = now()
"""

LAG_SQL = """
SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)
FROM outbox WHERE (txid, id) > (%s::xid8, %s)
"""

CLEANUP_SQL = """
DELETE FROM outbox WHERE id IN (
    SELECT id FROM outbox
    WHERE (txid, id) <= (%s::xid8, %s) AND created_at < now() - make_interval(secs => %s)
    LIMIT %s)
"""
CLEANUP_CHUNK = 10_000


def _positional(statement: str) -> str:
    """A %s-parameter statement with $1, $2, ... instead, for PREPARE."""
    parts = statement.split("%s")
    return "".join(f"{part}${i}" for i, part in enumerate(parts[:-1], 1)) + parts[-1]


# First pause before reading again when told about rows an older transaction still hides;
# it doubles up to 50 ms while they stay hidden.
MIN_RETRY_SECONDS = 0.001


def encode_message(row: tuple[Any, ...]) -> tuple[bytes, KafkaHeaders]:
    """The Kafka value (the envelope) and headers of one FETCH_SQL row.

    The payload is already JSON text; orjson.Fragment splices it in without a parse.
    """
    (
        _,
        _,
        aggregate_type,
        aggregate_id,
        event_id,
        event_type,
        version,
        headers_text,
        payload,
        created_at,
    ) = row
    stored_headers: dict[str, Any] = orjson.loads(headers_text)
    value = orjson.dumps(
        {
            "event_id": event_id,
            "event_type": event_type,
            "version": version,
            "aggregate_type": aggregate_type,
            "aggregate_id": aggregate_id,
            "occurred_at": utc_iso(created_at),
            "correlation_id": stored_headers.get("correlation_id"),
            "causation_id": stored_headers.get("causation_id"),
            "payload": orjson.Fragment(payload),
        }
    )
    headers: KafkaHeaders = [
        ("event_id", event_id.encode()),
        ("event_type", event_type.encode()),
        ("version", str(version).encode()),
        ("aggregate_type", aggregate_type.encode()),
    ]
    headers.extend((key, str(val).encode()) for key, val in stored_headers.items())
    return value, headers


def utc_iso(timestamptz_text: str) -> str:
    """PostgreSQL's text form of a timestamptz in a UTC session to ISO-8601 with a Z."""
    if timestamptz_text.endswith("+00"):
        timestamptz_text = timestamptz_text[:-3]
    return timestamptz_text.replace(" ", "T", 1) + "Z"


@dataclass(frozen=True, order=True, slots=True)
class Position:
    """A point in the outbox's publishing order."""

    txid: int
    last_id: int


@dataclass(slots=True)
class _Batch:
    end: Position
    size: int
    pending: int
    error: KafkaError | None = None
    topics: set[str] = field(default_factory=set)

    def on_delivery(self, err: KafkaError | None, _msg: Message) -> None:
        self.pending -= 1
        if err is not None and self.error is None:
            self.error = err

    @property
    def settled(self) -> bool:
        return self.pending == 0


@dataclass(slots=True)
class _Marks:
    """The position written to outbox_relay_position, and what Kafka acknowledged since."""

    durable: Position
    acked: Position
    unmarked: int = 0
    due: float = 0.0  # monotonic time when the next mark may be written

    def acknowledged(self, batch: _Batch) -> None:
        self.acked = batch.end
        self.unmarked += batch.size

    def marked(self, next_due: float) -> None:
        self.durable = self.acked
        self.unmarked = 0
        self.due = next_due


class _Rewind(Exception):
    """Kafka refused a message: replay from the last durable position."""


class DatabaseRelay:
    """Leader-elected publisher of one database's outbox; run() blocks until stop is set."""

    def __init__(
        self,
        name: str,
        dsn: str,
        settings: RelaySettings,
        kafka: KafkaSettings,
        producer_config: dict[str, Any],
    ) -> None:
        self.name = name
        self.dsn = dsn
        self.settings = settings
        self.kafka = kafka
        self.producer = Producer({**producer_config, "error_cb": self._on_kafka_error})
        self.state = "starting"
        self.kafka_ok = True
        self._known_topics: set[str] = set()
        self._next_cleanup = 0.0
        self._notified_txid = 0  # the newest transaction a notification told us about
        self._unknown_notified = False  # a notification without a transaction id came
        self._published = metrics.EVENTS_PUBLISHED.labels(database=name)
        self._leader_gauge = metrics.IS_LEADER.labels(database=name)
        self._log = log.bind(database=name)

    # -- lifecycle ---------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Connect, win leadership, publish; reconnect with backoff on any database failure."""
        backoff = 0.5
        while not stop.is_set():
            conn = None
            try:
                conn = psycopg2.connect(
                    self.dsn,
                    application_name=f"outbox_relay:{self.name}",
                    # The prepared read's plan does not depend on the position: plan it once.
                    options="-c timezone=UTC -c plan_cache_mode=force_generic_plan",
                    connect_timeout=5,
                )
                conn.autocommit = True
                backoff = 0.5
                if self._become_leader(conn, stop):
                    self._serve_as_leader(conn, stop)
            except psycopg2.Error as exc:
                self.state = "disconnected"
                self._log.warning("relay_database_error", error=str(exc).strip(), retry_in=backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                self._leader_gauge.set(0)
                if conn is not None:
                    conn.close()
        self.producer.flush(self.settings.shutdown_timeout_seconds)
        self.state = "stopped"

    def _become_leader(self, conn: psycopg2.extensions.connection, stop: threading.Event) -> bool:
        announced = False
        with conn.cursor() as cur:
            while not stop.is_set():
                cur.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK_KEY,))
                row = cur.fetchone()
                if row is not None and row[0]:
                    self.state = "leader"
                    self._leader_gauge.set(1)
                    self._log.info("relay_became_leader")
                    return True
                self._probe_kafka()
                if not announced:
                    self.state = "standby"
                    self._log.info("relay_standby", reason="another relay holds the leader lock")
                    announced = True
                stop.wait(self.settings.standby_retry_seconds)
        return False

    def _serve_as_leader(self, conn: psycopg2.extensions.connection, stop: threading.Event) -> None:
        with conn.cursor() as cur:
            cur.execute(f"LISTEN {NOTIFY_CHANNEL}")
            # Parsed and planned once per connection, not on every read and mark.
            cur.execute(f"PREPARE relay_fetch AS {_positional(FETCH_SQL)}")
            cur.execute(f"PREPARE relay_mark AS {_positional(MARK_SQL)}")
        while not stop.is_set():
            try:
                self._publish(conn, stop)
            except _Rewind as rewind:
                metrics.PUBLISH_FAILURES.labels(database=self.name).inc()
                self._log.warning("relay_rewind", error=str(rewind), retry_in=1.0)
                stop.wait(1.0)

    # -- the publishing loop -------------------------------------------------------------------

    def _publish(self, conn: psycopg2.extensions.connection, stop: threading.Event) -> None:
        """Read, produce, mark; read again only when there is reason to think rows wait.

        Reasons: a notification, a full batch, rows we were told about but could not read yet
        (an older transaction still holds the watermark back), and the fallback poll. Reading
        after every acknowledgement instead cost the database two queries per event.
        """
        position = self._load_position(conn)
        marks = _Marks(durable=position, acked=position)
        in_flight: deque[_Batch] = deque()
        next_housekeeping = 0.0
        fetch_now = True
        retry_in = MIN_RETRY_SECONDS
        try:
            while not stop.is_set():
                fetched = 0
                if fetch_now and len(in_flight) < self.settings.max_in_flight_batches:
                    self._unknown_notified = False
                    rows = self._fetch(conn, position)
                    fetched = len(rows)
                    if rows:
                        batch = self._produce(rows)
                        in_flight.append(batch)
                        position = batch.end
                    fetch_now = fetched == self.settings.batch_size  # more are probably waiting
                self.producer.poll(0)
                self._settle(conn, in_flight, marks)
                self._mark(conn, marks, force=False)

                now = time.monotonic()
                if now >= next_housekeeping:
                    self._housekeeping(conn, marks.durable)
                    next_housekeeping = now + 5.0

                if fetch_now and len(in_flight) < self.settings.max_in_flight_batches:
                    continue
                # Announced but not read: the rows wait behind an older, still open transaction.
                behind = self._announced(position)
                retry_in = min(retry_in * 2, 0.05) if behind and fetched == 0 else MIN_RETRY_SECONDS
                if in_flight:
                    self.producer.poll(0.005)  # wait for acknowledgements
                    self._take_notifications(conn)
                    fetch_now = fetch_now or self._announced(position)
                else:
                    timeout = retry_in if behind else self.settings.poll_interval_seconds
                    if marks.unmarked:  # wake in time to write the mark that is due
                        timeout = min(timeout, max(marks.due - time.monotonic(), 0.0))
                    if timeout > 0:
                        self._wait_for_rows(conn, position, timeout, stop)
                    fetch_now = True  # announced, still behind, or the fallback poll is due
        finally:
            self._drain(conn, in_flight, marks)

    def _fetch(
        self, conn: psycopg2.extensions.connection, after: Position
    ) -> list[tuple[Any, ...]]:
        with conn.cursor() as cur:
            cur.execute(
                "EXECUTE relay_fetch(%s::xid8, %s, %s)",
                (str(after.txid), after.last_id, self.settings.batch_size),
            )
            rows: list[tuple[Any, ...]] = cur.fetchall()
            return rows

    def _produce(self, rows: list[tuple[Any, ...]]) -> _Batch:
        last = rows[-1]
        batch = _Batch(end=Position(int(last[1]), last[0]), size=len(rows), pending=len(rows))
        for row in rows:
            topic = topic_for(row[2])
            if topic not in self._known_topics:
                self._ensure_topic(topic)
            value, headers = encode_message(row)
            self._produce_one(topic, row[3], value, headers, batch)
        failpoint("relay.after_produce")
        return batch

    def _produce_one(
        self, topic: str, key: str, value: bytes, headers: KafkaHeaders, batch: _Batch
    ) -> None:
        while True:
            try:
                self.producer.produce(
                    topic, key=key, value=value, headers=headers, on_delivery=batch.on_delivery
                )
                return
            except BufferError:
                self.producer.poll(0.05)  # local queue full: let deliveries drain

    def _ensure_topic(self, topic: str) -> None:
        ensure_topics(self.kafka, [topic])
        self._known_topics.add(topic)

    def _settle(
        self, conn: psycopg2.extensions.connection, in_flight: deque[_Batch], marks: _Marks
    ) -> None:
        """Move past every leading batch Kafka fully acknowledged; a failed one rewinds."""
        while in_flight and in_flight[0].settled:
            batch = in_flight[0]
            if batch.error is not None:
                self._mark(conn, marks, force=True)
                raise _Rewind(f"kafka did not acknowledge a message: {batch.error}")
            in_flight.popleft()
            marks.acknowledged(batch)

    def _mark(self, conn: psycopg2.extensions.connection, marks: _Marks, *, force: bool) -> None:
        """Write the acknowledged position when a mark is due (or forced).

        Marks are written at most every ``mark_interval_seconds`` while events flow: one UPDATE
        per batch was a commit per event at saga rates. A crash replays at most that interval's
        events again, which the consumers' inboxes absorb; nothing unacknowledged is marked.
        """
        if not marks.unmarked or (not force and time.monotonic() < marks.due):
            return
        failpoint("relay.before_mark")
        with conn.cursor() as cur:
            cur.execute(
                "EXECUTE relay_mark(%s::xid8, %s, %s)",
                (str(marks.acked.txid), marks.acked.last_id, marks.unmarked),
            )
        self._published.inc(marks.unmarked)
        marks.marked(time.monotonic() + self.settings.mark_interval_seconds)
        self.kafka_ok = True

    def _drain(
        self, conn: psycopg2.extensions.connection, in_flight: deque[_Batch], marks: _Marks
    ) -> None:
        """On stop or rewind: wait for what is in flight, mark what Kafka took, drop the rest."""
        if in_flight:
            self.producer.flush(self.settings.shutdown_timeout_seconds)
        # Whatever cannot be marked now is replayed by whoever leads next.
        with contextlib.suppress(_Rewind, psycopg2.Error):
            self._settle(conn, in_flight, marks)
        with contextlib.suppress(psycopg2.Error):
            self._mark(conn, marks, force=True)
        in_flight.clear()

    def _wait_for_rows(
        self,
        conn: psycopg2.extensions.connection,
        position: Position,
        timeout: float,
        stop: threading.Event,
    ) -> None:
        """Sleep until a notification announces rows past ``position``, or ``timeout``."""
        deadline = time.monotonic() + timeout
        while not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            # Wake at least every 0.2 s so SIGTERM is honoured promptly.
            readable, _, _ = select.select([conn], [], [], min(remaining, 0.2))
            if readable:
                self._take_notifications(conn)
                if self._announced(position):
                    return

    def _take_notifications(self, conn: psycopg2.extensions.connection) -> None:
        """Read pending notifications without blocking.

        Each carries its transaction's id; an empty payload (a database whose migrations predate
        that) only says "look now".
        """
        conn.poll()
        for notify in conn.notifies:
            if notify.payload.isdigit():
                self._notified_txid = max(self._notified_txid, int(notify.payload))
            else:
                self._unknown_notified = True
        conn.notifies.clear()

    def _announced(self, position: Position) -> bool:
        """Whether a notification told of rows the relay has not read yet."""
        return self._unknown_notified or self._notified_txid > position.txid

    def _load_position(self, conn: psycopg2.extensions.connection) -> Position:
        with conn.cursor() as cur:
            cur.execute("SELECT txid::text, last_id FROM outbox_relay_position")
            row = cur.fetchone()
            if row is None:
                cur.execute("INSERT INTO outbox_relay_position DEFAULT VALUES")
                return Position(0, 0)
            return Position(int(row[0]), row[1])

    def _probe_kafka(self) -> None:
        """After an outage, health must recover even when there is nothing to publish."""
        if self.kafka_ok:
            return
        try:
            self.producer.list_topics(timeout=2)
        except KafkaException:
            return
        self.kafka_ok = True
        self._log.info("kafka_reachable_again")

    def _housekeeping(self, conn: psycopg2.extensions.connection, durable: Position) -> None:
        self._probe_kafka()
        with conn.cursor() as cur:
            cur.execute(LAG_SQL, (str(durable.txid), durable.last_id))
            row = cur.fetchone()
            if row is not None:
                metrics.BACKLOG.labels(database=self.name).set(row[0])
                metrics.OLDEST_UNPUBLISHED_AGE.labels(database=self.name).set(float(row[1]))
            if time.monotonic() < self._next_cleanup:
                return
            self._next_cleanup = time.monotonic() + self.settings.cleanup_interval_seconds
            deleted = CLEANUP_CHUNK
            while deleted == CLEANUP_CHUNK:
                cur.execute(
                    CLEANUP_SQL,
                    (
                        str(durable.txid),
                        durable.last_id,
                        self.settings.retention_seconds,
                        CLEANUP_CHUNK,
                    ),
                )
                deleted = cur.rowcount
                if deleted:
                    metrics.ROWS_CLEANED.labels(database=self.name).inc(deleted)
                    self._log.info("relay_outbox_cleaned", rows=deleted)

    def _on_kafka_error(self, err: KafkaError) -> None:
        if err.code() == KafkaError._ALL_BROKERS_DOWN:
            self.kafka_ok = False
        self._log.warning("kafka_client_error", error=str(err))
