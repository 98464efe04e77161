"""A notification that arrives while the relay's connection runs a statement comes back with that
statement's answer: psycopg2 files it in ``conn.notifies`` and the socket has nothing left to read.
The relay must still wake for it (it slept until the fallback poll, an hour in some tests)."""

from __future__ import annotations

import threading

import psycopg2
import pytest

from outbox_relay.relay import DatabaseRelay, Position
from outbox_relay.settings import RelaySettings
from servicekit.messaging.kafka import producer_config
from servicekit.messaging.schema import NOTIFY_CHANNEL
from servicekit.settings import KafkaSettings
from tests.support import wait_for

pytestmark = pytest.mark.integration

LOCK_KEY = 8_123_456


def blocked_on_the_lock(url: str) -> bool:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'advisory'"
            " AND objid = %s",
            (LOCK_KEY,),
        )
        return int(cur.fetchone()[0]) > 0


def test_a_notification_read_with_a_statements_answer_still_wakes_the_relay(
    scratch_db: str,
) -> None:
    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:1")  # not contacted: nothing is produced
    relay = DatabaseRelay(
        "scratch",
        scratch_db,
        RelaySettings(databases={"scratch": scratch_db}),
        kafka,
        producer_config(kafka, client_id="notifications-test"),
    )
    listening = psycopg2.connect(scratch_db)
    listening.autocommit = True
    holder = psycopg2.connect(scratch_db)
    holder.autocommit = True
    try:
        with listening.cursor() as cur:
            cur.execute(f"LISTEN {NOTIFY_CHANNEL}")
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))

        def notify_while_it_waits() -> None:
            wait_for(lambda: blocked_on_the_lock(scratch_db), what="the statement is running")
            with holder.cursor() as cur:
                cur.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, "12345"))
                cur.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))

        notifier = threading.Thread(target=notify_while_it_waits)
        notifier.start()
        with listening.cursor() as cur:  # a statement of the relay's (a heartbeat, a mark)
            cur.execute("SELECT pg_advisory_lock(%s), pg_advisory_unlock(%s)", (LOCK_KEY,) * 2)
        notifier.join(30)
        assert [n.payload for n in listening.notifies] == ["12345"]  # came with the answer

        relay._wait_for_rows(listening, Position(0, 0), 30.0, threading.Event())
        assert relay._rows_announced
    finally:
        listening.close()
        holder.close()
