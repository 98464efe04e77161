"""The database side of orders' reads and live status, on a throw-away order_service database:
the list filtered by fulfilment and who sees what, every committed change announced once (and
a rolled back one never), the row's version, and the one listener per instance: it hands each
change over, and after losing its connection it connects again and asks for a resync. Last, a
service process on such a database ends its open streams at once on SIGTERM."""

from __future__ import annotations

import os
import signal
import sys
import threading
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg2
import psycopg2.extensions
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from devstack import layout
from order_service import views
from order_service.adapters.order_changes import CHANNEL, OrderChangeListener
from order_service.adapters.repository import SqlOrderUnitOfWork
from order_service.domain.model import Order
from servicekit.messaging.unit_of_work import transaction
from servicekit.tokens import Principal
from tests.support import ManagedProcess, free_port, scratch_database, sqlalchemy_url, wait_for

pytestmark = pytest.mark.integration

PRODUCT = str(uuid.uuid4())
ALICE = Principal(str(uuid.uuid4()), frozenset({"customer"}))
BOB = Principal(str(uuid.uuid4()), frozenset({"customer"}))
STAFF = Principal(str(uuid.uuid4()), frozenset({"staff"}))
ADMIN = Principal(str(uuid.uuid4()), frozenset({"admin"}))


@pytest.fixture
def database(engines: None) -> Iterator[tuple[str, sessionmaker[Session]]]:
    with scratch_database("order", migrations="order_service") as url:
        engine = create_engine(sqlalchemy_url(url))
        yield url, sessionmaker(engine, expire_on_commit=False)
        engine.dispose()


def place(sessions: sessionmaker[Session], customer: Principal) -> str:
    order = Order.place(
        order_id=str(uuid.uuid4()),
        customer_id=customer.user_id,
        items=[(PRODUCT, 1)],
        prices={PRODUCT: (Decimal("5.00"), "EUR")},
        deadline_at=datetime.now(UTC) + timedelta(minutes=5),
    )
    with transaction(sessions, SqlOrderUnitOfWork) as uow:
        uow.orders.add(order, idempotency_key=None, fingerprint="f")
    return order.order_id


def confirm_and_prepare(sessions: sessionmaker[Session], order_id: str) -> None:
    with transaction(sessions, SqlOrderUnitOfWork) as uow:
        order = uow.orders.get_for_update(order_id)
        assert order is not None
        order.stock_reserved(list(order.lines))
        order.payment_authorized()
        uow.orders.save(order)
    with transaction(sessions, SqlOrderUnitOfWork) as uow:
        order = uow.orders.get_for_update(order_id)
        assert order is not None
        order.start_preparing(changed_by=STAFF.user_id, at=datetime.now(UTC))
        uow.orders.save(order)


def test_the_list_filters_by_fulfilment_and_staff_see_every_order(
    database: tuple[str, sessionmaker[Session]],
) -> None:
    _, sessions = database
    alices = [place(sessions, ALICE) for _ in range(2)]
    bobs = place(sessions, BOB)
    confirm_and_prepare(sessions, alices[0])
    confirm_and_prepare(sessions, bobs)

    def listed(principal: Principal, **filters: str | None) -> set[str]:
        with sessions() as session:
            rows, total = views.list_orders(
                session,
                principal,
                status=filters.get("status"),
                fulfilment=filters.get("fulfilment"),
                page=1,
                size=100,
            )
        assert total == len(rows)
        return {row["order_id"] for row in rows}

    assert listed(ALICE) == set(alices)
    assert listed(ALICE, fulfilment="PREPARING") == {alices[0]}
    assert listed(ALICE, fulfilment="NOT_STARTED") == {alices[1]}
    for sees_all in (STAFF, ADMIN):
        assert listed(sees_all) == {*alices, bobs}
        assert listed(sees_all, fulfilment="PREPARING") == {alices[0], bobs}
        assert listed(sees_all, status="CONFIRMED", fulfilment="SHIPPED") == set()
    with sessions() as session:
        assert views.get_order(session, bobs, ALICE) is None
        assert views.get_order(session, bobs, STAFF) is not None
        shown = views.get_order(session, alices[0], ALICE)
    assert shown is not None
    assert shown["fulfilment"]["status"] == "PREPARING"
    assert shown["fulfilment"]["updated_at"] is not None
    assert (shown["payment_method"], shown["delivery_address"]) == ("card", None)


def test_every_write_counts_a_version_and_a_stream_reads_what_get_shows(
    database: tuple[str, sessionmaker[Session]],
) -> None:
    _, sessions = database
    order_id = place(sessions, ALICE)
    with sessions() as session:
        first = views.orders_by_id(session, [order_id, str(uuid.uuid4())])
    assert list(first) == [order_id]
    confirm_and_prepare(sessions, order_id)
    with sessions() as session:
        read = views.read_order(session, order_id, ALICE)
        again = views.orders_by_id(session, [order_id])[order_id]
        assert views.read_order(session, order_id, BOB) is None
    assert read is not None and read == again
    assert read.version == first[order_id].version + 2  # confirmed, then preparing
    assert not read.final
    assert read.view["updated_at"] > first[order_id].view["updated_at"]


def _listen(url: str) -> psycopg2.extensions.connection:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"LISTEN {CHANNEL}")
    return conn


def _announced(conn: psycopg2.extensions.connection) -> list[str]:
    conn.poll()
    payloads = [n.payload for n in conn.notifies]
    conn.notifies.clear()
    return payloads


def test_each_committed_change_is_announced_once_and_a_rollback_never(
    database: tuple[str, sessionmaker[Session]],
) -> None:
    url, sessions = database
    listener = _listen(url)
    try:
        order_id = place(sessions, ALICE)
        assert wait_for(lambda: _announced(listener), what="the insert announced") == [order_id]
        confirm_and_prepare(sessions, order_id)  # two transactions, two announcements
        seen: list[str] = []

        def both() -> bool:
            seen.extend(_announced(listener))
            return len(seen) >= 2

        wait_for(both, what="two changes")
        assert seen == [order_id, order_id]
        with pytest.raises(RuntimeError), transaction(sessions, SqlOrderUnitOfWork) as uow:
            order = uow.orders.get_for_update(order_id)
            assert order is not None
            order.ship(changed_by=STAFF.user_id, at=datetime.now(UTC))
            uow.orders.save(order)
            raise RuntimeError("the use case failed")
        # A committed change after it: the only announcement that follows is that one.
        other = place(sessions, BOB)
        assert wait_for(lambda: _announced(listener), what="the next insert") == [other]
    finally:
        listener.close()


def test_the_listener_hands_changes_over_and_reconnects_with_a_resync(
    database: tuple[str, sessionmaker[Session]],
) -> None:
    url, sessions = database
    changed: list[str] = []
    resyncs: list[float] = []

    class Feed:
        def changed(self, order_ids: Iterable[str]) -> None:
            changed.extend(order_ids)

        def resync(self) -> None:
            resyncs.append(1.0)

        def tick(self) -> None:
            return None

    listener = OrderChangeListener(url, Feed(), application_name="order-changes-test")
    stop = threading.Event()
    thread = threading.Thread(target=listener.run, args=(stop,))
    thread.start()
    try:
        assert listener.connected.wait(10)
        assert resyncs == [1.0]  # also after the first connection: nothing was heard before
        order_id = place(sessions, ALICE)
        wait_for(lambda: order_id in changed, what="the change handed over")
        # The database ends the listener's session, as a restart would.
        with psycopg2.connect(url) as admin, admin.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'order-changes-test'"
            )
        wait_for(lambda: len(resyncs) == 2, timeout=15, what="reconnected and resynced")
        assert listener.connected.wait(10)
        later = place(sessions, BOB)
        wait_for(lambda: later in changed, what="changes after the reconnection")
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_sigterm_ends_every_open_stream_at_once_and_the_service_stops(
    engines: None, tmp_path: Path
) -> None:
    """Without it, the server would wait its whole grace period for streams that never end,
    then cut them; here each ends properly (the last chunk sent) and the service stops."""
    with scratch_database("order", migrations="order_service") as url:
        port = free_port()
        service = ManagedProcess(
            [sys.executable, "-m", "order_service"],
            {
                "ORDER_PORT": str(port),
                "ORDER_DATABASE_URL": sqlalchemy_url(url),
                "EUREKA_ENABLED": "false",
                "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",  # no consumer group
            },
            tmp_path / "order_service.log",
            http_port=port,
        ).start()
        try:
            wait_for(lambda: (service.health() or {}).get("database") == "ok", timeout=60)
            token = _admin_token()
            ended: list[bytes] = []

            def watch() -> None:
                with httpx.stream(
                    "GET",
                    f"http://127.0.0.1:{port}/api/orders/events",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=60,
                ) as response:
                    assert response.status_code == 200
                    opened.set()
                    ended.append(b"".join(response.iter_bytes()))  # raises if cut short

            opened = threading.Event()
            watcher = threading.Thread(target=watch)
            watcher.start()
            assert opened.wait(10)
            # uvicorn ends by raising the signal again once it shut down gracefully.
            assert service.stop(timeout=30) in (0, -signal.SIGTERM)
            watcher.join(10)
            assert ended == [b""], service.output()[-2000:]  # a clean end, nothing lost
            assert '"event":"service_stopped"' in service.output()
        finally:
            service.stop()


def _admin_token() -> str:
    """An admin's access token from the running stack's auth service (its keys are the JWKS
    every service trusts)."""
    response = httpx.post(
        f"http://127.0.0.1:{layout.GATEWAY_PORT}/api/auth/login",
        json={
            "email": os.environ.get("ADMIN_EMAIL", "admin@example.com"),
            "password": os.environ.get("ADMIN_PASSWORD", "Admin-password-1"),
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])
