"""A transaction left open in one service's database delays no other service's events.

Transaction ids are server-wide, and the relay used to publish only below the oldest transaction
still running anywhere on the server: one write left open in user_service's database (a migration,
a batch job, a forgotten psql session) stopped every saga until the saga timeout cancelled it.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import psycopg2
import pytest

from devstack import layout
from tests.e2e.conftest import User
from tests.e2e.saga_support import FINAL, create_product, place_order, wait_order

pytestmark = pytest.mark.e2e

HELD_OPEN_SECONDS = 60


def open_write_transaction(database: str) -> tuple[Any, int]:
    """A connection holding a write transaction open in ``database`` (a row in a scratch table
    of its own), and that transaction's id."""
    conn = psycopg2.connect(layout.libpq_url(database), application_name="test_relay_stall")
    with conn.cursor() as cur:
        cur.execute("CREATE TEMPORARY TABLE relay_stall_scratch (note text)")
        cur.execute(
            "INSERT INTO relay_stall_scratch VALUES ('held open')"
            " RETURNING pg_current_xact_id()::text"
        )
        (txid,) = cur.fetchone()
    return conn, int(txid)


def still_running(txid: int) -> bool:
    """Whether transaction ``txid`` is still in progress, as a new snapshot sees it."""
    with psycopg2.connect(layout.libpq_url("postgres")) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT %s::xid8 IN (SELECT pg_snapshot_xip(pg_current_snapshot()))", (str(txid),)
        )
        return bool(cur.fetchone()[0])


def test_open_transaction_in_another_database_delays_no_saga(
    api: httpx.Client, admin: User, customer: User
) -> None:
    product = create_product(api, admin, stock=10_000, price="3.00")
    blocker, blocker_txid = open_write_transaction("user_service")
    confirmed = 0
    try:
        opened_at = time.monotonic()
        while time.monotonic() - opened_at < HELD_OPEN_SECONDS:
            response = place_order(api, customer, [(product, 1)])
            assert response.status_code == 202, response.text
            order_id = response.json()["order_id"]
            # Waiting for the transaction would end in the saga timeout's CANCELLED.
            done = wait_order(api, customer, order_id, until=lambda o: o["status"] in FINAL)
            assert done["status"] == "CONFIRMED", done
            assert still_running(blocker_txid), "the open transaction ended before the order"
            confirmed += 1
    finally:
        blocker.rollback()
        blocker.close()
    assert confirmed >= 2
    assert not still_running(blocker_txid)
