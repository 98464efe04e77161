"""Publishing one database's outbox to Kafka.

Correctness rests on three rules (docs/relay.md has the reasoning in full):

* **Nothing is skipped, and nothing waits for others.** The relay's place is a cursor
  ``(txid, id)`` plus the few transactions below the cursor that were still running when it last
  read (:class:`Position`). Each read is ONE statement, hence one snapshot: it returns the
  committed rows past the cursor or of those transactions, in ``(txid, id)`` order, together with
  that snapshot. The next position is the last row returned plus the snapshot's running
  transactions below it: a transaction that commits late is read when it commits, and a
  transaction that never writes here (one in another database of the server) costs an index probe
  per read, never a delay. Per-aggregate order holds because writers take the aggregate's lock
  before their first write (``lock_aggregate``): a later writer's rows are never visible without
  the earlier writer's, which sort before them.
* **Nothing is marked early.** The position in ``outbox_relay_position`` only moves past a batch
  once Kafka acknowledged every message of it and of every batch before it (idempotent producer,
  ``acks=all``). A crash replays from the last mark: duplicates are possible, loss is not; the
  inbox removes the duplicates.
* **One publisher per database.** The relay holds a session advisory lock on the connection it does
  all its work on, and marks through that same connection; a second relay waits as a hot standby
  and takes over when the lock is freed (the leader's connection dies with its process). A leader
  that hangs (SIGSTOP, a frozen VM) keeps its connection and so its lock: its lease is its
  heartbeat, a statement at least every ``RELAY_HEARTBEAT_SECONDS`` as the server sees it, and a
  standby that finds the lock's session idle longer than ``RELAY_LEASE_SECONDS`` terminates that
  session. The session is the fencing token: the old leader, resumed, cannot mark anything,
  because its marks go through a session that no longer exists.

Throughput comes from batching (one query reads thousands of rows with the envelope already built
in SQL) and pipelining (several batches in flight to Kafka while the next one is read).
"""

from __future__ import annotations

import contextlib
import re
import select
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg2
import psycopg2.extensions
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from outbox_relay import metrics
from outbox_relay.settings import RelaySettings
from servicekit.failpoints import failpoint, switched_on
from servicekit.logging import get_logger
from servicekit.messaging.envelope import topic_for
from servicekit.messaging.kafka import KafkaHeaders, ensure_topics
from servicekit.messaging.schema import NOTIFY_CHANNEL
from servicekit.settings import KafkaSettings

log = get_logger(__name__)

# Session advisory lock that makes one relay the leader of a database; any constant would do,
# it only has to be the same for every relay instance.
LEADER_LOCK_KEY = 0x0B0C_5E1A
# The chaos kit's deliberately broken relay (SERVICEKIT_FAILPOINTS=relay.publish_twice_as_new=on):
# every event published a second time under a new event id, a duplicate no inbox can drop.
PUBLISH_TWICE_AS_NEW = "relay.publish_twice_as_new"
# The longest wait between two attempts to reach the database again.
RECONNECT_BACKOFF_MAX_SECONDS = 2.0

# Ends the session that holds the leader lock of this database when the server has seen no
# statement from it for longer than the lease: the leader is hung, not merely busy (a statement in
# progress shows as 'active'). Lock and idleness are read in one statement; PostgreSQL releases
# the lock only once that backend has exited, so no mark of the old leader can follow the new
# leader's first read. Every relay connects as the same role, which may end its own sessions.
# A key below 2**32 is stored as classid 0, objid key, objsubid 1 (a single bigint key).
EXPIRE_LEASE_SQL = """
SELECT a.pid, pg_terminate_backend(a.pid),
       extract(epoch FROM now() - a.state_change)::float8
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = %(key)s
  AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND a.pid <> pg_backend_pid()
  AND a.state IN ('idle', 'idle in transaction')
  AND a.state_change < now() - make_interval(secs => %(lease)s)
"""

# The columns of one row, in encode_message's order.
_ROW_COLUMNS = (
    "o.id, o.txid::text, o.aggregate_type, o.aggregate_id, o.event_id::text, o.event_type,"
    " o.event_version, o.headers::text, o.payload::text, o.created_at::text"
)

# One statement, hence one snapshot. Its first row carries that snapshot (id NULL); the others are
# the committed rows not read yet, in (txid, id) order: rows of the transactions that were still
# running below the cursor at the last read, and rows past the cursor. Each branch is an index
# range scan and PostgreSQL merges them in order (Merge Append), so a read costs the rows it
# returns plus one probe per running transaction. Columns are qualified so that ORDER BY means the
# xid8 column (ordered by the index), not its text rendering, which would sort "999" after "1000".
FETCH_SQL = f"""
SELECT NULL::bigint, pg_current_snapshot()::text, NULL, NULL, NULL, NULL, NULL::integer,
       NULL, NULL, NULL
UNION ALL
(SELECT {_ROW_COLUMNS}
 FROM ((SELECT * FROM outbox
        WHERE txid = ANY(%(in_progress)s::xid8[])
        ORDER BY txid, id LIMIT %(limit)s)
       UNION ALL
       (SELECT * FROM outbox
        WHERE (txid, id) > (%(txid)s::xid8, %(last_id)s)
        ORDER BY txid, id LIMIT %(limit)s)) o
 ORDER BY o.txid, o.id
 LIMIT %(limit)s)
"""

MARK_SQL = """
UPDATE outbox_relay_position
SET txid = %(txid)s::xid8, last_id = %(last_id)s, in_progress = %(in_progress)s::xid8[],
    published = published + %(published)s, updated_at = now()
"""

LAG_SQL = """
SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)
FROM outbox
WHERE (txid, id) > (%(txid)s::xid8, %(last_id)s) OR txid = ANY(%(in_progress)s::xid8[])
"""

# Rows at or below the durable cursor were acknowledged by Kafka, except those of transactions it
# still waits for (their rows commit later, below the cursor).
CLEANUP_SQL = """
DELETE FROM outbox WHERE id IN (
    SELECT id FROM outbox
    WHERE (txid, id) <= (%(txid)s::xid8, %(last_id)s) AND txid <> ALL(%(in_progress)s::xid8[])
      AND created_at < now() - make_interval(secs => %(retention)s)
    LIMIT %(chunk)s)
"""
CLEANUP_CHUNK = 10_000


def _positional(statement: str) -> tuple[str, str]:
    """A %(name)s-parameter statement as the body of PREPARE ($1, $2, ... in order of first use)
    and the argument list EXECUTE passes it, still with %(name)s parameters."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    body = re.sub(r"%\((\w+)\)s", number, statement)
    return body, ", ".join(f"%({name})s" for name in names)


_FETCH_BODY, _FETCH_ARGS = _positional(FETCH_SQL)
_MARK_BODY, _MARK_ARGS = _positional(MARK_SQL)


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


@dataclass(frozen=True, slots=True)
class Position:
    """How far the relay has read: every row at or below the cursor ``(txid, last_id)`` except the
    rows of ``in_progress``, the transactions below the cursor that were still running at that
    read (they may commit rows there later)."""

    txid: int
    last_id: int
    in_progress: tuple[int, ...] = ()

    def awaits(self, txid: int) -> bool:
        """Whether rows of transaction ``txid`` may still be unread."""
        return txid > self.txid or txid in self.in_progress

    def after_read(self, rows: list[tuple[Any, ...]], snapshot: str, *, cut: bool) -> Position:
        """The position once ``rows`` (one read's rows, in order) were read under ``snapshot``
        (the text of a pg_snapshot: ``xmin:xmax:xip,...``); ``cut`` when the read returned as many
        rows as it was allowed to, so more matching rows may wait behind the last one.

        The cursor moves to the last row returned, or stays where it was if that row sorts before
        it: a transaction watched below the cursor that committed late has its rows there, and a
        read that returns only such rows must not move the cursor back over rows already read
        (that published them again). A cut read moves it to its last row even then: rows of the
        watched transactions that it did not return lie past that row.

        A row at or below the new cursor that the read did not return was invisible to it, so its
        transaction was running (in ``xip``) and is below the cursor: it is kept. A transaction
        kept before and now finished had every committed row returned (they sort before the new
        cursor or lie past it), or none (it rolled back): it is dropped. Transactions newer than
        the snapshot have larger ids than any row it shows, so the cursor covers them.
        """
        txid, last_id = self.txid, self.last_id
        if rows:
            last = int(rows[-1][1]), int(rows[-1][0])
            if cut or last > (txid, last_id):
                txid, last_id = last
        running = snapshot.rsplit(":", 1)[1]
        in_progress = tuple(x for x in map(int, running.split(",")) if x < txid) if running else ()
        return Position(txid, last_id, in_progress)

    def sql_params(self) -> dict[str, Any]:
        """The position as FETCH_SQL, MARK_SQL, LAG_SQL and CLEANUP_SQL take it."""
        return {
            "txid": str(self.txid),
            "last_id": self.last_id,
            "in_progress": "{" + ",".join(map(str, self.in_progress)) + "}",
        }


@dataclass(slots=True)
class _Batch:
    """The messages of one read on their way to Kafka, and the position once all are acked.

    A read that returned no rows but changed the position (a watched transaction ended without
    rows here) is a batch of none, so that the position is marked in read order all the same.
    """

    end: Position
    size: int
    pending: int
    error: KafkaError | None = None

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

    @property
    def behind(self) -> bool:
        """Whether the acknowledged position is not written yet."""
        return self.acked != self.durable

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
        # Gapless: a message that fails (a delivery timeout while the broker is away) must not be
        # followed by a later message of its partition that succeeds - the replay from the mark
        # would then put that aggregate's events out of order for the consumers. librdkafka
        # turns such a gap into a fatal error instead; the producer is then replaced (below).
        self._producer_config = {
            **producer_config,
            "enable.gapless.guarantee": True,
            "error_cb": self._on_kafka_error,
        }
        self._producer_fatal = False
        self.producer = Producer(self._producer_config)
        self.state = "starting"
        self.kafka_ok = True
        self._known_topics: set[str] = set()
        self._next_cleanup = 0.0
        # A notification told of rows not read yet (evaluated against the read position when
        # taken, and cleared by the next read, whose snapshot is newer than the commit).
        self._rows_announced = False
        self._published = metrics.EVENTS_PUBLISHED.labels(database=name)
        self._leader_gauge = metrics.IS_LEADER.labels(database=name)
        self._log = log.bind(database=name)
        # When this leader's connection last ran a statement (its lease heartbeat, as the
        # server sees it in pg_stat_activity.state_change).
        self._last_statement = 0.0
        # A crash point of this database's thread alone (the others go on), for liveness tests.
        self._after_produce_failpoint = f"relay.after_produce.{name}"

    # -- lifecycle ---------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Connect, win leadership, publish; reconnect with backoff on any database failure.

        Anything else that escapes (a bug) ends the thread; the process then exits non-zero
        (outbox_relay.main) and the supervisor starts a fresh one.
        """
        try:
            self._run(stop)
        except BaseException:
            self.state = "failed"
            raise

    def _run(self, stop: threading.Event) -> None:
        backoff = 0.5
        while not stop.is_set():
            conn = None
            try:
                conn = psycopg2.connect(
                    self.dsn,
                    application_name=f"outbox_relay:{self.name}",
                    # The prepared read's plan does not depend on the position: plan it once.
                    # No parallel plans: the read's snapshot row must come first (Append keeps
                    # the order of its branches only when it runs them itself).
                    options=(
                        "-c timezone=UTC -c plan_cache_mode=force_generic_plan"
                        " -c max_parallel_workers_per_gather=0"
                    ),
                    connect_timeout=5,
                )
                conn.autocommit = True
                backoff = 0.5
                if self._become_leader(conn, stop):
                    self._serve_as_leader(conn, stop)
            except psycopg2.Error as exc:
                if self.state == "leader":
                    # Its session ended (a standby expired its lease, or the server went away):
                    # nothing more is marked through it; what it held is replayed by the next.
                    self._log.warning("relay_lost_leadership", error=str(exc).strip())
                self.state = "disconnected"
                self._log.warning("relay_database_error", error=str(exc).strip(), retry_in=backoff)
                stop.wait(backoff)
                # Capped low: every saga waits for the relay, and a refused connection to a
                # restarting server costs next to nothing.
                backoff = min(backoff * 2, RECONNECT_BACKOFF_MAX_SECONDS)
            finally:
                # Only a leader measures the outbox: a relay that stops leading stops reporting
                # (a standby beside the new leader would otherwise show a stale backlog forever).
                self._leader_gauge.set(0)
                metrics.BACKLOG.labels(database=self.name).set(0)
                metrics.OLDEST_UNPUBLISHED_AGE.labels(database=self.name).set(0)
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
                    self._last_statement = time.monotonic()
                    self._log.info("relay_became_leader")
                    return True
                if self._expire_hung_leader(cur):
                    continue  # the lock is free once the old session has exited: try at once
                self._probe_kafka()
                if not announced:
                    self.state = "standby"
                    self._log.info("relay_standby", reason="another relay holds the leader lock")
                    announced = True
                stop.wait(self.settings.standby_retry_seconds)
        return False

    def _expire_hung_leader(self, cur: psycopg2.extensions.cursor) -> bool:
        """End the leader's session if its lease ran out; True once it has exited."""
        cur.execute(
            EXPIRE_LEASE_SQL, {"key": LEADER_LOCK_KEY, "lease": self.settings.lease_seconds}
        )
        expired = cur.fetchall()
        if not expired:
            return False
        pid, _, idle_seconds = expired[0]
        metrics.LEASES_EXPIRED.labels(database=self.name).inc()
        self._log.warning(
            "relay_leader_lease_expired",
            leader_backend_pid=pid,
            idle_seconds=round(idle_seconds, 2),
            lease_seconds=self.settings.lease_seconds,
        )
        # pg_terminate_backend only signals; the lock is released when the backend has exited.
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
            row = cur.fetchone()
            if row is None or row[0] == 0:
                return True
            time.sleep(0.02)
        return False

    def _heartbeat(self, conn: psycopg2.extensions.connection) -> None:
        """Renew the lease: the server must see a statement at least every heartbeat interval.
        A leader whose session was ended as hung fails here and becomes a standby again."""
        if time.monotonic() - self._last_statement < self.settings.heartbeat_seconds:
            return
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        self._last_statement = time.monotonic()

    def _serve_as_leader(self, conn: psycopg2.extensions.connection, stop: threading.Event) -> None:
        with conn.cursor() as cur:
            cur.execute(f"LISTEN {NOTIFY_CHANNEL}")
            # Parsed and planned once per connection, not on every read and mark.
            cur.execute(f"PREPARE relay_fetch AS {_FETCH_BODY}")
            cur.execute(f"PREPARE relay_mark AS {_MARK_BODY}")
        while not stop.is_set():
            try:
                self._publish(conn, stop)
            except _Rewind as rewind:
                metrics.PUBLISH_FAILURES.labels(database=self.name).inc()
                self._log.warning("relay_rewind", error=str(rewind), retry_in=1.0)
                self._replace_producer_if_fatal()
                stop.wait(1.0)
            except KafkaException as exc:
                # A topic could not be created or a message not queued (broker away): keep the
                # leadership and replay from the mark once it answers again.
                self.kafka_ok = False
                self._log.warning("relay_kafka_error", error=str(exc), retry_in=1.0)
                self._replace_producer_if_fatal()
                stop.wait(1.0)

    # -- the publishing loop -------------------------------------------------------------------

    def _publish(self, conn: psycopg2.extensions.connection, stop: threading.Event) -> None:
        """Read, produce, mark; read again only when there is reason to think rows wait.

        Reasons: a full batch, a notification of a transaction whose rows may be unread, and the
        fallback poll. Reading after every acknowledgement instead cost the database two queries
        per event. Reads run ahead of Kafka's acknowledgements (up to max_in_flight_batches), and
        each continues from the position the previous read left, never from the marked one.
        """
        position = self._load_position(conn)
        marks = _Marks(durable=position, acked=position)
        in_flight: deque[_Batch] = deque()
        next_housekeeping = 0.0
        read_now = True
        next_poll = 0.0
        try:
            while not stop.is_set():
                if read_now and len(in_flight) < self.settings.max_in_flight_batches:
                    self._rows_announced = False
                    rows, after = self._fetch(conn, position)
                    next_poll = time.monotonic() + self.settings.poll_interval_seconds
                    if rows or after != position:
                        in_flight.append(self._produce(rows, after))
                        position = after
                    read_now = len(rows) == self.settings.batch_size  # more probably wait
                self.producer.poll(0)
                self._settle(conn, in_flight, marks)
                self._mark(conn, marks, force=False)
                self._heartbeat(conn)

                now = time.monotonic()
                if now >= next_housekeeping:
                    self._housekeeping(conn, marks.durable)
                    next_housekeeping = now + 5.0

                if read_now and len(in_flight) < self.settings.max_in_flight_batches:
                    continue
                if in_flight:
                    self.producer.poll(0.005)  # wait for acknowledgements
                    self._take_notifications(conn, position)
                else:
                    timeout = next_poll - time.monotonic()
                    if marks.behind:  # wake in time to write the mark that is due
                        timeout = min(timeout, marks.due - time.monotonic())
                    if timeout > 0:
                        self._wait_for_rows(conn, position, timeout, stop)
                read_now = read_now or self._rows_announced or time.monotonic() >= next_poll
        finally:
            self._drain(conn, in_flight, marks)

    def _fetch(
        self, conn: psycopg2.extensions.connection, after: Position
    ) -> tuple[list[tuple[Any, ...]], Position]:
        """The next rows in publishing order, and the position once they are read."""
        with conn.cursor() as cur:
            cur.execute(
                f"EXECUTE relay_fetch({_FETCH_ARGS})",
                {**after.sql_params(), "limit": self.settings.batch_size},
            )
            rows: list[tuple[Any, ...]] = cur.fetchall()
        self._last_statement = time.monotonic()
        if not rows or rows[0][0] is not None:
            raise RuntimeError("relay_fetch did not return its snapshot first")
        snapshot: str = rows.pop(0)[1]
        return rows, after.after_read(rows, snapshot, cut=len(rows) >= self.settings.batch_size)

    def _produce(self, rows: list[tuple[Any, ...]], end: Position) -> _Batch:
        batch = _Batch(end=end, size=len(rows), pending=len(rows))
        if not rows:
            return batch
        for row in rows:
            topic = topic_for(row[2])
            if topic not in self._known_topics:
                self._ensure_topic(topic)
            value, headers = encode_message(row)
            self._produce_one(topic, row[3], value, headers, batch)
            if switched_on(PUBLISH_TWICE_AS_NEW):
                # Deliberately broken (chaos --break only): the copy has an event id of its own,
                # so no inbox can recognise it as the same event.
                batch.pending += 1
                value, headers = encode_message((*row[:4], str(uuid.uuid4()), *row[5:]))
                self._produce_one(topic, row[3], value, headers, batch)
        failpoint("relay.after_produce")
        failpoint(self._after_produce_failpoint)
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
        if not marks.behind or (not force and time.monotonic() < marks.due):
            return
        failpoint("relay.before_mark")
        with conn.cursor() as cur:
            cur.execute(
                f"EXECUTE relay_mark({_MARK_ARGS})",
                {**marks.acked.sql_params(), "published": marks.unmarked},
            )
        self._last_statement = time.monotonic()
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
        """Sleep until a notification announces rows not read from ``position``, or ``timeout``."""
        deadline = time.monotonic() + timeout
        while not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._heartbeat(conn)
            # A notification that arrived while a statement ran (this heartbeat, a read, a mark,
            # housekeeping) came back with its answer: psycopg2 filed it in conn.notifies and the
            # socket has nothing left to wake select() for it.
            if not conn.notifies:
                # Wake at least every 0.2 s so SIGTERM is honoured promptly.
                readable, _, _ = select.select([conn], [], [], min(remaining, 0.2))
                if not readable:
                    continue
            self._take_notifications(conn, position)
            if self._rows_announced:
                return

    def _take_notifications(self, conn: psycopg2.extensions.connection, position: Position) -> None:
        """Read pending notifications without blocking; note whether any announces unread rows.

        Each carries its transaction's id: rows of a transaction the read position no longer
        awaits were read already (its commit preceded a read's snapshot). An empty payload (a
        database whose migrations predate the id) only says "look now".
        """
        conn.poll()
        for notify in conn.notifies:
            payload = notify.payload
            if not payload.isdigit() or position.awaits(int(payload)):
                self._rows_announced = True
        conn.notifies.clear()

    def _load_position(self, conn: psycopg2.extensions.connection) -> Position:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT txid::text, last_id, in_progress::text[] FROM outbox_relay_position"
            )
            row = cur.fetchone()
            if row is None:
                cur.execute("INSERT INTO outbox_relay_position DEFAULT VALUES")
                return Position(0, 0)
            return Position(int(row[0]), row[1], tuple(sorted(map(int, row[2]))))

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
            cur.execute(LAG_SQL, durable.sql_params())
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
                    {
                        **durable.sql_params(),
                        "retention": self.settings.retention_seconds,
                        "chunk": CLEANUP_CHUNK,
                    },
                )
                deleted = cur.rowcount
                if deleted:
                    metrics.ROWS_CLEANED.labels(database=self.name).inc(deleted)
                    self._log.info("relay_outbox_cleaned", rows=deleted)

    def _on_kafka_error(self, err: KafkaError) -> None:
        if err.code() == KafkaError._ALL_BROKERS_DOWN:
            self.kafka_ok = False
        if err.fatal():
            self._producer_fatal = True
            self._log.error("kafka_producer_fatal", error=str(err))
            return
        self._log.warning("kafka_client_error", error=str(err))

    def _replace_producer_if_fatal(self) -> None:
        """After a fatal error (a gap refused) the producer takes nothing more: start a new one.
        What it held is replayed from the durable mark, in order."""
        if not self._producer_fatal:
            return
        self._producer_fatal = False
        self.producer = Producer(self._producer_config)
        metrics.PRODUCERS_REPLACED.labels(database=self.name).inc()
        self._log.warning("kafka_producer_replaced")
