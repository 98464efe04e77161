"""A hung relay leader loses its database within its lease, and cannot mark once resumed.

A leader stopped with SIGSTOP keeps its TCP connection open (the kernel keeps answering for it),
so its session advisory lock alone would keep it the leader forever. These tests stop the leader
at the worst moment, Kafka having acknowledged a batch that is not marked yet, and check that the
standby takes over and publishes, and that the old leader, resumed, marks nothing.
"""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import psycopg2
import pytest

from tests.support import ManagedProcess, TopicReader, headers_of, relay_process, wait_for

pytestmark = pytest.mark.integration

# Short, so the test waits little; the relation between them is what production keeps too.
LEASE = {"lease_seconds": 2.0, "heartbeat_seconds": 0.3, "standby_retry_seconds": 0.2}


def write_events(url: str, aggregate_type: str, count: int) -> set[str]:
    """``count`` outbox rows committed in one transaction, one aggregate each; their event ids."""
    ids = {str(uuid.uuid4()) for _ in range(count)}
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        for event_id in ids:
            cur.execute(
                "INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type, payload)"
                " VALUES (%s, %s, %s, 'test.happened', '{}')",
                (event_id, aggregate_type, event_id),
            )
    return ids


def is_stopped(process: ManagedProcess) -> bool:
    """True while the process is stopped by a signal (state T in /proc)."""
    assert process.process is not None
    stat = Path(f"/proc/{process.process.pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] in ("T", "t")


def state_of(process: ManagedProcess) -> str | None:
    """The relay's state for the scratch database, from /health."""
    return (process.health() or {}).get("databases", {}).get("scratch")


def marked_count(url: str) -> int:
    """How many events outbox_relay_position says were published."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT published FROM outbox_relay_position")
        row = cur.fetchone()
    assert row is not None
    return int(row[0])


def test_sigstop_leader_loses_the_lease_and_cannot_mark_when_resumed(
    scratch_db: str, aggregate_type: str, artifacts: Path
) -> None:
    # The leader stops itself after Kafka acknowledged its first batch, before marking it.
    leader = relay_process(
        {"scratch": scratch_db},
        artifacts / "leader.log",
        failpoints="relay.before_mark=stop",
        **LEASE,
    ).start()
    wait_for(lambda: state_of(leader) == "leader", what="first relay leads")
    standby = relay_process({"scratch": scratch_db}, artifacts / "standby.log", **LEASE).start()
    wait_for(lambda: state_of(standby) == "standby", what="second relay stands by")
    reader = TopicReader(f"{aggregate_type}.events")
    try:
        first = write_events(scratch_db, aggregate_type, 50)
        wait_for(lambda: is_stopped(leader), what="leader hangs before its mark")
        # The leader's batch is in Kafka, unmarked. The standby takes over within the lease and
        # publishes it again from the mark, then whatever comes next.
        second = write_events(scratch_db, aggregate_type, 50)
        messages = reader.read_until(
            lambda ms: (first | second) <= {headers_of(m)["event_id"] for m in ms}
        )
        assert state_of(standby) == "leader"
        assert standby.metric("outbox_relay_leases_expired_total", database="scratch") == 1
        wait_for(lambda: marked_count(scratch_db) >= 100, what="new leader marks")
        marked_by_new_leader = marked_count(scratch_db)
        # Every event of the first batch went out twice at most: once per leader.
        first_seen = [headers_of(m)["event_id"] for m in messages]
        assert all(first_seen.count(event_id) <= 2 for event_id in first)

        assert leader.process is not None
        os.kill(leader.process.pid, signal.SIGCONT)
        # Resumed, it goes on with its mark, on a session that no longer exists: it marks
        # nothing, and waits as the standby.
        wait_for(lambda: state_of(leader) == "standby", what="old leader stands by")
        assert "relay_lost_leadership" in leader.output()
        assert leader.metric("outbox_relay_events_published_total", database="scratch") == 0
        assert marked_count(scratch_db) == marked_by_new_leader
        third = write_events(scratch_db, aggregate_type, 10)
        reader.read_until(lambda ms: third <= {headers_of(m)["event_id"] for m in ms})
        assert leader.metric("outbox_relay_events_published_total", database="scratch") == 0
    finally:
        reader.close()
        if leader.process is not None and leader.process.poll() is None:
            os.kill(leader.process.pid, signal.SIGCONT)
        leader.stop()
        standby.stop()
