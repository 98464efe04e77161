"""The relay against the real PostgreSQL and Kafka: what it publishes, and that it loses nothing
when killed, when transactions commit out of order, or when a second relay competes."""

from __future__ import annotations

import threading
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson
import psycopg2
import psycopg2.extras
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from devstack import layout
from outbox_relay.relay import FETCH_SQL
from servicekit.lifecycle import EXIT_THREAD_DIED
from servicekit.messaging import AggregateOrderError, add_event, lock_aggregate
from tests.support import (
    TopicReader,
    headers_of,
    relay_process,
    scratch_database,
    sqlalchemy_url,
    wait_for,
)

pytestmark = pytest.mark.integration


def bulk_events(url: str, aggregate_type: str, count: int, *, aggregates: int = 50) -> set[str]:
    """Commit ``count`` events (about 300 bytes each) in one transaction; returns their ids."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    rows = [
        (
            eid,
            aggregate_type,
            f"agg-{i % aggregates}",
            "test.happened",
            orjson.dumps({"seq": i, "note": "x" * 180}).decode(),
            orjson.dumps({"correlation_id": f"corr-{i}"}).decode(),
        )
        for i, eid in enumerate(ids)
    ]
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        psycopg2.extras.execute_values(
            cur,
            "INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type, payload,"
            " headers) VALUES %s",
            rows,
            template="(%s::uuid, %s, %s, %s, %s::jsonb, %s::jsonb)",
            page_size=1000,
        )
    return set(ids)


def published_position(url: str) -> int:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT published FROM outbox_relay_position")
        row = cur.fetchone()
        return int(row[0]) if row else 0


def leads(relay: Any, database: str = "scratch") -> bool:
    """Whether ``relay`` says it is the leader of ``database``."""
    return (relay.health() or {}).get("databases", {}).get(database) == "leader"


def event_ids(messages: list) -> list[str]:
    return [headers_of(m)["event_id"] for m in messages]


def test_committed_event_reaches_kafka_and_rolled_back_one_does_not(
    scratch_db: str, aggregate_type: str, artifacts: Path
) -> None:
    engine = create_engine(sqlalchemy_url(scratch_db))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE widgets (id text PRIMARY KEY, name text NOT NULL)"))

    relay = relay_process({"scratch": scratch_db}, artifacts / "relay.log").start()
    reader = TopicReader(f"{aggregate_type}.events")
    try:
        # Rolled back: the business row and its event vanish together.
        with Session(engine) as session, session.begin():
            ghost_id = add_event(
                session,
                aggregate_type=aggregate_type,
                aggregate_id="w0",
                event_type="widget.created",
                payload={"name": "ghost"},
            )
            session.execute(text("INSERT INTO widgets VALUES ('w0', 'ghost')"))
            session.rollback()
        # Committed: the event rides in the same transaction as the widget row.
        with Session(engine) as session, session.begin():
            lock_aggregate(session, aggregate_type, "w1")
            session.execute(text("INSERT INTO widgets VALUES ('w1', 'sprocket')"))
            event_id = add_event(
                session,
                aggregate_type=aggregate_type,
                aggregate_id="w1",
                event_type="widget.created",
                payload={"name": "sprocket", "price": "19.99"},
                correlation_id="corr-1",
                causation_id="cause-1",
                headers={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
            )
        messages = reader.read_until(lambda ms: str(event_id) in event_ids(ms))
    finally:
        reader.close()
        relay.stop()

    assert str(ghost_id) not in event_ids(messages), "a rolled-back event was published"
    (message,) = [m for m in messages if headers_of(m)["event_id"] == str(event_id)]
    assert message.topic() == f"{aggregate_type}.events"
    assert message.key() == b"w1"
    headers = headers_of(message)
    assert headers["event_type"] == "widget.created"
    assert headers["correlation_id"] == "corr-1"
    assert headers["traceparent"].startswith("00-0af7651916cd43dd8448eb211c80319c")
    envelope = orjson.loads(message.value())
    assert envelope["event_id"] == str(event_id)
    assert envelope["event_type"] == "widget.created"
    assert envelope["version"] == 1
    assert envelope["aggregate_type"] == aggregate_type
    assert envelope["aggregate_id"] == "w1"
    assert envelope["correlation_id"] == "corr-1"
    assert envelope["causation_id"] == "cause-1"
    assert envelope["payload"] == {"name": "sprocket", "price": "19.99"}
    assert envelope["occurred_at"].endswith("Z")


def test_add_event_refuses_an_unlocked_aggregate_after_a_write(scratch_db: str) -> None:
    engine = create_engine(sqlalchemy_url(scratch_db))
    with Session(engine) as session, session.begin():
        session.execute(text("CREATE TABLE things (id int)"))
        session.execute(text("INSERT INTO things VALUES (1)"))
        with pytest.raises(AggregateOrderError, match="before the transaction's first write"):
            add_event(
                session,
                aggregate_type="thing",
                aggregate_id="1",
                event_type="thing.made",
                payload={},
            )
        session.rollback()


def test_fetch_orders_by_transaction_id_as_a_number(scratch_db: str) -> None:
    """Transaction 9 comes before 10: ordering by the text of the xid8 would swap them. The
    read's first row is its snapshot, and rows of watched transactions merge in order."""
    with psycopg2.connect(scratch_db) as conn, conn.cursor() as cur:
        for txid in ("10", "9", "3", "12"):
            cur.execute(
                "INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type, payload,"
                " txid) VALUES (%s, 'a', %s, 't', '{}', %s::xid8)",
                (str(uuid.uuid4()), txid, txid),
            )
    with psycopg2.connect(scratch_db) as conn, conn.cursor() as cur:
        cur.execute(FETCH_SQL, {"txid": "9", "last_id": 0, "in_progress": "{3}", "limit": 10})
        snapshot, *rows = cur.fetchall()
        assert snapshot[0] is None and snapshot[1].count(":") == 2
        assert [row[1] for row in rows] == ["3", "9", "10", "12"]


def test_kill_9_between_publish_and_mark_loses_nothing(
    scratch_db: str, aggregate_type: str, artifacts: Path
) -> None:
    expected = bulk_events(scratch_db, aggregate_type, 20_000)
    # Armed failpoint: the relay dies (SIGKILL) after Kafka acknowledged a batch but before the
    # database heard about it, the worst moment for an outbox.
    doomed = relay_process(
        {"scratch": scratch_db}, artifacts / "relay-1.log", failpoints="relay.before_mark=kill"
    ).start()
    assert doomed.process is not None
    doomed.process.wait(60)
    assert doomed.process.returncode == -9, doomed.output()
    assert published_position(scratch_db) == 0

    reader = TopicReader(f"{aggregate_type}.events")
    relay = relay_process({"scratch": scratch_db}, artifacts / "relay-2.log").start()
    try:
        messages = reader.read_until(lambda ms: expected <= set(event_ids(ms)))
    finally:
        reader.close()
        relay.stop()
    ids = event_ids(messages)
    assert set(ids) == expected
    assert len(ids) > len(expected), "the killed batch should have been delivered twice"


def test_kill_9_at_a_random_moment_loses_nothing(
    scratch_db: str, aggregate_type: str, artifacts: Path
) -> None:
    expected = bulk_events(scratch_db, aggregate_type, 30_000)
    first = relay_process(
        {"scratch": scratch_db}, artifacts / "relay-1.log", batch_size=500
    ).start()
    # Kill it mid-stream: once it has marked some, but not all, of the backlog.
    wait_for(
        lambda: published_position(scratch_db) > 0,
        timeout=60,
        interval=0.001,
        what="first marked batch",
    )
    first.kill9()
    assert published_position(scratch_db) < len(expected)

    reader = TopicReader(f"{aggregate_type}.events")
    second = relay_process({"scratch": scratch_db}, artifacts / "relay-2.log").start()
    try:
        messages = reader.read_until(lambda ms: expected <= set(event_ids(ms)))
    finally:
        reader.close()
        second.stop()
    assert set(event_ids(messages)) == expected
    wait_for(lambda: published_position(scratch_db) >= len(expected), what="position caught up")


def test_out_of_order_commits_lose_nothing_and_keep_aggregate_order(
    scratch_db: str, aggregate_type: str, artifacts: Path
) -> None:
    """One transaction takes a low id and stays open for seconds while many later ones commit:
    a naive ``id > last_seen`` poller would skip its rows for good."""
    relay = relay_process({"scratch": scratch_db}, artifacts / "relay.log").start()
    reader = TopicReader(f"{aggregate_type}.events")
    engine = create_engine(sqlalchemy_url(scratch_db), pool_size=10)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE counters (aggregate_id text PRIMARY KEY, seq int)"))
        conn.execute(
            text("INSERT INTO counters SELECT 'agg-' || g, 0 FROM generate_series(0, 9) g")
        )

    def append(aggregate_id: str) -> str:
        # Lock the aggregate first: the writer rule that makes (txid, id) order the write order.
        with Session(engine) as session, session.begin():
            lock_aggregate(session, aggregate_type, aggregate_id)
            seq = session.execute(
                text("UPDATE counters SET seq = seq + 1 WHERE aggregate_id = :a RETURNING seq"),
                {"a": aggregate_id},
            ).scalar_one()
            return str(
                add_event(
                    session,
                    aggregate_type=aggregate_type,
                    aggregate_id=aggregate_id,
                    event_type="counter.incremented",
                    payload={"seq": seq},
                )
            )

    try:
        slow = psycopg2.connect(scratch_db)
        with slow.cursor() as cur:  # opens the long transaction and takes the lowest id
            cur.execute(
                "INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type, payload)"
                " VALUES (%s, %s, 'slow', 'slow.happened', '{}')",
                (str(uuid.uuid4()), aggregate_type),
            )
        written: list[str] = []
        lock = threading.Lock()

        def writer(worker: int) -> None:
            for i in range(60):
                eid = append(f"agg-{(worker + i) % 10}")
                with lock:
                    written.append(eid)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # The slow transaction has been open the whole time; nothing behind it may be lost.
        slow.commit()
        slow.close()
        messages = reader.read_until(lambda ms: len(set(event_ids(ms))) >= len(written) + 1)
    finally:
        reader.close()
        relay.stop()

    assert set(written) <= set(event_ids(messages))
    assert any(headers_of(m)["event_type"] == "slow.happened" for m in messages)
    seqs: dict[str, list[int]] = defaultdict(list)
    for message in messages:
        if message.key().startswith(b"agg-"):
            seqs[message.key().decode()].append(orjson.loads(message.value())["payload"]["seq"])
    for aggregate_id, seen in seqs.items():
        deduplicated = [s for i, s in enumerate(seen) if s not in seen[:i]]
        assert deduplicated == sorted(deduplicated), f"{aggregate_id} reordered: {seen}"
        assert deduplicated == list(range(1, len(deduplicated) + 1))
    assert sum(len(v) for v in seqs.values()) >= 240


def test_a_late_commit_is_published_once_and_nothing_after_it_again(
    scratch_db: str, aggregate_type: str, artifacts: Path
) -> None:
    """A transaction that took its id before others and commits after they were published is
    read alone; the relay must not read what it had published after it again (with no crash
    and no failover, every event goes out once)."""
    relay = relay_process({"scratch": scratch_db}, artifacts / "relay.log").start()
    reader = TopicReader(f"{aggregate_type}.events")
    written: set[str] = set()
    try:
        wait_for(lambda: leads(relay), what="relay leads")
        for _ in range(3):
            late, late_txid = open_write_transaction(scratch_db)
            with late.cursor() as cur:
                late_event = str(uuid.uuid4())
                cur.execute(
                    "INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type,"
                    " payload) VALUES (%s, %s, 'late', 'late.happened', '{}')",
                    (late_event, aggregate_type),
                )
            for _ in range(3):
                batch = bulk_events(scratch_db, aggregate_type, 5)
                written |= batch
                reader.read_until(lambda ms, b=batch: b <= set(event_ids(ms)), timeout=30)
            wait_for(
                lambda t=late_txid: t in position_row(scratch_db)[2],
                what="the relay watches the open transaction",
            )
            late.commit()
            late.close()
            written.add(late_event)
            reader.read_until(lambda ms, e=late_event: e in event_ids(ms), timeout=30)
        last = bulk_events(scratch_db, aggregate_type, 5)
        written |= last
        messages = reader.read_until(lambda ms: last <= set(event_ids(ms)), timeout=30)
    finally:
        reader.close()
        relay.stop()

    copies = Counter(event_ids(messages))
    assert set(copies) == written
    assert {e: n for e, n in copies.items() if n > 1} == {}


def test_second_relay_is_a_hot_standby_that_takes_over(
    scratch_db: str, aggregate_type: str, artifacts: Path
) -> None:
    leader = relay_process({"scratch": scratch_db}, artifacts / "leader.log").start()
    wait_for(lambda: leads(leader), what="first relay leads")
    standby = relay_process({"scratch": scratch_db}, artifacts / "standby.log").start()
    wait_for(
        lambda: (standby.health() or {}).get("databases", {}).get("scratch") == "standby",
        what="second relay stands by",
    )
    reader = TopicReader(f"{aggregate_type}.events")
    try:
        first = bulk_events(scratch_db, aggregate_type, 2_000)
        reader.read_until(lambda ms: first <= set(event_ids(ms)))
        # Kafka has the events; the mark (and so the counter) follows the acknowledgements.
        wait_for(
            lambda: (
                leader.metric("outbox_relay_events_published_total", database="scratch") >= 2_000
            ),
            what="leader marks its batch",
        )
        assert standby.metric("outbox_relay_events_published_total", database="scratch") == 0
        assert standby.metric("outbox_relay_is_leader", database="scratch") == 0

        leader.kill9()
        wait_for(lambda: leads(standby), what="standby takes over")
        second = bulk_events(scratch_db, aggregate_type, 2_000)
        reader.read_until(lambda ms: (first | second) <= set(event_ids(ms)))
        wait_for(
            lambda: (
                standby.metric("outbox_relay_events_published_total", database="scratch") >= 2_000
            ),
            what="new leader marks what it published",
        )
    finally:
        reader.close()
        standby.stop()


def test_published_rows_are_cleaned_up(
    scratch_db: str, aggregate_type: str, artifacts: Path
) -> None:
    relay = relay_process(
        {"scratch": scratch_db},
        artifacts / "relay.log",
        retention_seconds=0,
        cleanup_interval_seconds=0.2,
    ).start()
    try:
        bulk_events(scratch_db, aggregate_type, 3_000)

        def outbox_rows() -> int:
            with psycopg2.connect(scratch_db) as conn, conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM outbox")
                return int(cur.fetchone()[0])

        wait_for(lambda: published_position(scratch_db) == 3_000, what="all published")
        wait_for(lambda: outbox_rows() == 0, what="published rows deleted")
    finally:
        relay.stop()


def test_sigterm_stops_cleanly(scratch_db: str, artifacts: Path) -> None:
    relay = relay_process({"scratch": scratch_db}, artifacts / "relay.log").start()
    wait_for(lambda: relay.health() is not None, what="relay answers")
    assert relay.stop() == 0
    assert "relay_stopped" in relay.output()


def test_health_follows_kafka_down_and_back(scratch_db: str, artifacts: Path) -> None:
    """An idle relay must report Kafka's return too, not only its loss (found the hard way: it
    stayed unhealthy after a broker restart until it had something to publish)."""
    from devstack import supervisor
    from devstack.cli import wait_ready

    relay = relay_process({"scratch": scratch_db}, artifacts / "relay.log").start()
    try:
        wait_for(lambda: (relay.health() or {}).get("status") == "ok", what="relay healthy")
        supervisor.rpc().stopProcess("kafka", True)
        try:
            wait_for(
                lambda: (relay.health() or {}).get("kafka") == "unreachable",
                timeout=60,
                what="relay notices Kafka is gone",
            )
        finally:
            supervisor.start("kafka")
            wait_ready("kafka")
        wait_for(
            lambda: (relay.health() or {}).get("status") == "ok",
            timeout=60,
            what="relay healthy again with nothing to publish",
        )
    finally:
        relay.stop()


def position_row(url: str) -> tuple[int, int, list[int]]:
    """The relay's durable mark: cursor (txid, last_id) and the transactions it waits for."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT txid::text, last_id, in_progress::text[] FROM outbox_relay_position")
        txid, last_id, in_progress = cur.fetchone()
        return int(txid), last_id, [int(x) for x in in_progress]


def open_write_transaction(url: str) -> tuple[Any, int]:
    """A connection holding a write transaction open (a scratch table and one row, nothing to do
    with the outbox), and that transaction's id."""
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS scratch (note text)")
        cur.execute("INSERT INTO scratch VALUES ('held open') RETURNING pg_current_xact_id()::text")
        (txid,) = cur.fetchone()
    return conn, int(txid)


def still_running(txid: int) -> bool:
    """Whether transaction ``txid`` is still in progress, as a new snapshot sees it."""
    with psycopg2.connect(layout.libpq_url("postgres")) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT %s::xid8 IN (SELECT pg_snapshot_xip(pg_current_snapshot()))", (str(txid),)
        )
        return bool(cur.fetchone()[0])


def outbox_txids(url: str, ids: set[str]) -> list[int]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT txid::text FROM outbox WHERE event_id::text = ANY(%s)", (list(ids),))
        return [int(row[0]) for row in cur.fetchall()]


def test_open_transactions_elsewhere_delay_nothing(
    scratch_db: str, aggregate_type: str, artifacts: Path
) -> None:
    """A write transaction left open in another database of the server (a migration, a batch job,
    a forgotten session), or in this one without outbox rows, holds back no event committed
    after it. The fallback poll is an hour away: notifications alone drive the relay."""
    relay = relay_process(
        {"scratch": scratch_db}, artifacts / "relay.log", poll_interval_seconds=3600
    ).start()
    reader = TopicReader(f"{aggregate_type}.events")
    with scratch_database("other") as other_db:
        elsewhere, elsewhere_txid = open_write_transaction(other_db)
        here, here_txid = open_write_transaction(scratch_db)
        try:
            wait_for(lambda: leads(relay), what="relay leads")
            first = bulk_events(scratch_db, aggregate_type, 10)
            reader.read_until(lambda ms: first <= set(event_ids(ms)), timeout=30)
            second = bulk_events(scratch_db, aggregate_type, 10)
            reader.read_until(lambda ms: second <= set(event_ids(ms)), timeout=30)
            # Published while both stayed open, though both are older than every row published:
            # a relay waiting for the oldest running transaction of the server would still wait.
            assert still_running(elsewhere_txid) and still_running(here_txid)
            assert max(elsewhere_txid, here_txid) < min(outbox_txids(scratch_db, first | second))
            # The mark moved past them and names them as transactions that may still write here.
            wait_for(
                lambda: {elsewhere_txid, here_txid} <= set(position_row(scratch_db)[2]),
                what="mark records the open transactions",
            )
        finally:
            elsewhere.close()
            here.close()
            reader.close()
            relay.stop()


def test_late_commit_is_published_before_later_events_of_its_aggregate(
    scratch_db: str, aggregate_type: str, artifacts: Path
) -> None:
    """An event whose transaction stays open across several reads is published when it commits,
    and before the next event of its aggregate, whose writer was queued on the aggregate's lock
    and commits right after it."""
    relay = relay_process(
        {"scratch": scratch_db}, artifacts / "relay.log", poll_interval_seconds=3600
    ).start()
    reader = TopicReader(f"{aggregate_type}.events")
    engine = create_engine(sqlalchemy_url(scratch_db), pool_size=4)

    def write(session: Session, aggregate_id: str, seq: int) -> str:
        lock_aggregate(session, aggregate_type, aggregate_id)
        return str(
            add_event(
                session,
                aggregate_type=aggregate_type,
                aggregate_id=aggregate_id,
                event_type="counter.incremented",
                payload={"seq": seq},
            )
        )

    def waiting_for_a_lock() -> bool:
        with psycopg2.connect(scratch_db) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'advisory'"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            return int(cur.fetchone()[0]) > 0

    pairs: list[tuple[str, str]] = []
    late_txids: set[int] = set()
    try:
        wait_for(lambda: leads(relay), what="relay leads")
        for round_ in range(5):
            aggregate_id = f"late-{round_}"
            with Session(engine) as late:
                late.begin()
                late_event = write(late, aggregate_id, 1)
                late_txid = int(
                    late.execute(text("SELECT pg_current_xact_id()::text")).scalar_one()
                )
                late_txids.add(late_txid)
                for _ in range(3):  # each is announced, read and published on its own
                    batch = bulk_events(scratch_db, aggregate_type, 5)
                    reader.read_until(lambda ms, b=batch: b <= set(event_ids(ms)), timeout=30)
                wait_for(
                    lambda t=late_txid: t in position_row(scratch_db)[2],
                    what="mark waits for the open transaction",
                )
                follower_event: list[str] = []

                def follow(
                    aggregate_id: str = aggregate_id, out: list[str] = follower_event
                ) -> None:
                    with Session(engine) as session, session.begin():
                        out.append(write(session, aggregate_id, 2))

                follower = threading.Thread(target=follow)
                follower.start()
                wait_for(waiting_for_a_lock, what="the next writer queues on the aggregate lock")
                late.commit()
            follower.join(30)
            pairs.append((late_event, follower_event[0]))
        wanted = {event for pair in pairs for event in pair}
        messages = reader.read_until(lambda ms: wanted <= set(event_ids(ms)), timeout=30)
    finally:
        reader.close()
        relay.stop()

    first_seen: dict[str, Any] = {}
    for message in messages:
        first_seen.setdefault(headers_of(message)["event_id"], message)
    for earlier, later in pairs:
        late_message, follower_message = first_seen[earlier], first_seen[later]
        assert late_message.partition() == follower_message.partition()
        assert late_message.offset() < follower_message.offset(), (
            f"{earlier} (committed first) published after {later}"
        )
    # Other transactions of the shared server may be watched still; these ones are done.
    assert not late_txids & set(position_row(scratch_db)[2])


def test_transaction_open_across_a_relay_crash_is_published_when_it_commits(
    scratch_db: str, aggregate_type: str, artifacts: Path
) -> None:
    """The mark records the transactions the relay waits for, so a relay that takes over after a
    kill -9 still reads the rows they commit below its cursor."""
    first = relay_process({"scratch": scratch_db}, artifacts / "relay-1.log").start()
    reader = TopicReader(f"{aggregate_type}.events")
    late = psycopg2.connect(scratch_db)
    try:
        with late.cursor() as cur:
            cur.execute(
                "INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type, payload)"
                " VALUES (%s, %s, 'late', 'late.happened', '{}')"
                " RETURNING event_id::text, txid::text",
                (str(uuid.uuid4()), aggregate_type),
            )
            late_event, late_txid = cur.fetchone()
        after = bulk_events(scratch_db, aggregate_type, 100)
        reader.read_until(lambda ms: after <= set(event_ids(ms)), timeout=30)
        wait_for(
            lambda: int(late_txid) in position_row(scratch_db)[2],
            what="mark waits for the open transaction",
        )
        first.kill9()
        late.commit()
        second = relay_process({"scratch": scratch_db}, artifacts / "relay-2.log").start()
        try:
            reader.read_until(lambda ms: late_event in event_ids(ms), timeout=30)
            wait_for(
                lambda: int(late_txid) not in position_row(scratch_db)[2],
                what="the mark no longer waits for it",
            )
        finally:
            second.stop()
    finally:
        late.close()
        reader.close()


def test_a_publisher_thread_that_dies_takes_the_process_down(
    scratch_db: str, aggregate_type: str, artifacts: Path
) -> None:
    """One database's thread raises mid-publishing (a failpoint standing in for a bug): the process
    must not live on without it, serving /health while that database's events go nowhere. It
    stops the other threads cleanly and exits non-zero, so that the supervisor restarts it."""
    with scratch_database("doomed") as doomed_db:
        expected = bulk_events(doomed_db, aggregate_type, 500)
        relay = relay_process(
            {"scratch": scratch_db, "doomed": doomed_db},
            artifacts / "relay-1.log",
            failpoints="relay.after_produce.doomed=raise",
        ).start()
        assert relay.process is not None
        assert relay.process.wait(60) == EXIT_THREAD_DIED, relay.output()
        output = relay.output()
        assert "background_thread_died" in output and "relay-doomed" in output, output

        assert "relay_stopped" in output, "the other threads did not stop cleanly"

        # What the supervisor does next: a fresh process leads, and everything is published.
        reader = TopicReader(f"{aggregate_type}.events")
        fresh = relay_process({"doomed": doomed_db}, artifacts / "relay-2.log").start()
        try:
            wait_for(lambda: leads(fresh, "doomed"), what="the fresh relay leads")
            reader.read_until(lambda ms: expected <= set(event_ids(ms)))
            wait_for(lambda: published_position(doomed_db) >= len(expected), what="all marked")
        finally:
            reader.close()
            assert fresh.stop() == 0
