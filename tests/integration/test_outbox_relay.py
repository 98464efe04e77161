"""The relay against the real PostgreSQL and Kafka: what it publishes, and that it loses nothing
when killed, when transactions commit out of order, or when a second relay competes."""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import psycopg2
import psycopg2.extras
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from outbox_relay.relay import FETCH_SQL
from servicekit.messaging import AggregateOrderError, add_event, lock_aggregate
from tests.support import (
    TopicReader,
    headers_of,
    relay_process,
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
    """Transaction 9 comes before 10: ordering by the text of the xid8 would swap them.
    (Small ids, so that they are below the watermark even on a brand-new cluster.)"""
    with psycopg2.connect(scratch_db) as conn, conn.cursor() as cur:
        for txid in ("10", "9", "3"):
            cur.execute(
                "INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type, payload,"
                " txid) VALUES (%s, 'a', %s, 't', '{}', %s::xid8)",
                (str(uuid.uuid4()), txid, txid),
            )
    with psycopg2.connect(scratch_db) as conn, conn.cursor() as cur:
        cur.execute(FETCH_SQL, ("0", 0, 10))
        assert [row[1] for row in cur.fetchall()] == ["3", "9", "10"]


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


def test_second_relay_is_a_hot_standby_that_takes_over(
    scratch_db: str, aggregate_type: str, artifacts: Path
) -> None:
    leader = relay_process({"scratch": scratch_db}, artifacts / "leader.log").start()
    wait_for(
        lambda: (leader.health() or {}).get("databases", {}).get("scratch") == "leader",
        what="first relay leads",
    )
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
        wait_for(
            lambda: (standby.health() or {}).get("databases", {}).get("scratch") == "leader",
            what="standby takes over",
        )
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


def _relay_last_query_start(url: str) -> Any:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT query_start FROM pg_stat_activity"
            " WHERE application_name = 'outbox_relay:scratch' AND state = 'idle'"
        )
        row = cur.fetchone()
        return row[0] if row else None


def test_rows_held_back_by_an_open_transaction_go_out_when_it_ends_without_a_notification(
    scratch_db: str, aggregate_type: str, artifacts: Path
) -> None:
    # The fallback poll is an hour away, so only the relay noticing that it was told about rows
    # it could not read yet can publish them once the older transaction ends.
    relay = relay_process(
        {"scratch": scratch_db}, artifacts / "relay.log", poll_interval_seconds=3600
    ).start()
    wait_for(
        lambda: (relay.health() or {}).get("databases", {}).get("scratch") == "leader",
        what="relay leads",
    )
    reader = TopicReader(f"{aggregate_type}.events")
    blocker = psycopg2.connect(scratch_db)
    try:
        with blocker.cursor() as cur:  # an open transaction with an id and no outbox row
            cur.execute("SELECT pg_current_xact_id()")
            cur.execute("SELECT now()")
            (opened_at,) = cur.fetchone()
        with psycopg2.connect(scratch_db) as conn, conn.cursor() as cur:
            cur.execute("SELECT clock_timestamp()")
            (before_commit,) = cur.fetchone()
        (event_id,) = bulk_events(scratch_db, aggregate_type, 1)
        # The notification woke the relay and it looked, while the blocker hid the row.
        wait_for(
            lambda: (_relay_last_query_start(scratch_db) or opened_at) > before_commit,
            what="relay reads after the notification",
        )
        assert published_position(scratch_db) == 0
        blocker.commit()  # ends silently: no outbox row, no notification
        reader.read_until(lambda ms: event_id in event_ids(ms), timeout=30)
    finally:
        blocker.close()
        reader.close()
        relay.stop()
