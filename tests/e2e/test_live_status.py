"""Live order status as Server-Sent Events, through the gateway on the real stack: the order at
once and after each change in order, the end at a final state, fifty streams of one order all
getting every change from one read each, who may stream what, a client that leaves releasing
its stream, keep-alives that carry an idle stream past the gateway's read timeout, the limit on
open streams, and the database listener coming back after its connection was cut."""

from __future__ import annotations

import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg2
import pytest

from devstack import layout
from tests.e2e.conftest import User, create_guest, fresh_loopback_address, register
from tests.e2e.order_support import (
    EventStream,
    confirmed_order,
    order_metric,
    staff_member,
    step,
)
from tests.e2e.saga_support import create_product, order, place_order
from tests.support import ManagedProcess, free_port, scratch_database, sqlalchemy_url, wait_for

pytestmark = pytest.mark.e2e

SAGA_RANK = {"PENDING": 0, "STOCK_RESERVED": 1, "CONFIRMED": 2, "REJECTED": 2, "CANCELLED": 2}
FULFILMENT_RANK = {"NOT_STARTED": 0, "PREPARING": 1, "SHIPPED": 2, "DELIVERED": 3}


@pytest.fixture(scope="module")
def staff(api: httpx.Client, admin: User) -> User:
    """A staff member (not an admin)."""
    return staff_member(api, admin)


@pytest.fixture
def streams() -> Iterator[list[EventStream]]:
    """Streams a test opens; whatever is still open at its end is left."""
    opened: list[EventStream] = []
    yield opened
    for stream in opened:
        if not stream.ended.is_set():
            stream.leave()


def open_stream(
    opened: list[EventStream], path: str, user: User | None, source: str | None = None
) -> EventStream:
    stream = EventStream(path, user.access_token if user else None, source).open()
    opened.append(stream)
    return stream


def open_streams_gauge(kind: str = "order") -> float:
    return order_metric("order_streams_open", kind=kind)


def assert_in_order(statuses: list[dict[str, Any]]) -> None:
    """Never back: the saga's status and the fulfilment only move forward, and no state twice."""
    saga = [SAGA_RANK[s["status"]] for s in statuses]
    fulfilment = [FULFILMENT_RANK[s["fulfilment"]["status"]] for s in statuses]
    assert saga == sorted(saga), statuses
    assert fulfilment == sorted(fulfilment), statuses
    assert len({repr(s) for s in statuses}) == len(statuses), statuses


def test_a_stream_sends_the_order_at_once_then_each_change_and_ends_when_delivered(
    api: httpx.Client, admin: User, customer: User, staff: User, streams: list[EventStream]
) -> None:
    product = create_product(api, admin, stock=3)
    order_id = place_order(api, customer, [(product, 1)]).json()["order_id"]
    stream = open_stream(streams, f"/api/orders/{order_id}/events", customer)
    assert stream.status == 200, stream.body
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert stream.headers["cache-control"] == "no-cache"
    assert stream.headers["x-accel-buffering"] == "no"
    first = stream.wait_events(1)[0]
    assert first.name == "status"
    assert set(first.order) == set(order(api, customer, order_id))  # the body GET answers
    wait_for(
        lambda: any(s["inventory"]["status"] == "COMMITTED" for s in stream.statuses()),
        what="the saga's last change on the stream",
    )
    for status in ("PREPARING", "SHIPPED", "DELIVERED"):
        assert step(api, staff, order_id, status).status_code == 200
        wait_for(
            lambda status=status: stream.statuses()[-1]["fulfilment"]["status"] == status,
            what=f"{status} on the stream",
        )
    assert stream.ended.wait(10), "the stream did not end after DELIVERED"
    statuses = stream.statuses()
    assert_in_order(statuses)
    assert [s["fulfilment"]["status"] for s in statuses][-3:] == [
        "PREPARING",
        "SHIPPED",
        "DELIVERED",
    ]
    ids = [int(event.id or 0) for event in stream.events]
    assert ids == sorted(set(ids))  # each event a newer version of the order
    assert statuses[-1] == order(api, customer, order_id)


@pytest.mark.parametrize("outcome", ["REJECTED", "CANCELLED"])
def test_a_stream_ends_when_the_saga_fails(
    api: httpx.Client, admin: User, customer: User, streams: list[EventStream], outcome: str
) -> None:
    if outcome == "REJECTED":  # not enough stock
        product = create_product(api, admin, stock=1)
        quantity = 2
    else:  # the payment is declined above PAYMENT_DECLINE_ABOVE
        product = create_product(api, admin, stock=5, price="3000.00")
        quantity = 2
    order_id = place_order(api, customer, [(product, quantity)]).json()["order_id"]
    stream = open_stream(streams, f"/api/orders/{order_id}/events", customer)
    assert stream.status == 200, stream.body
    assert stream.ended.wait(30), "the stream did not end at the final state"
    statuses = stream.statuses()
    assert statuses[-1]["status"] == outcome
    assert all(s["status"] != outcome for s in statuses[:-1])  # it ended at the first final one
    assert_in_order(statuses)
    # A stream of an order already final: that state, then the end.
    again = open_stream(streams, f"/api/orders/{order_id}/events", customer)
    assert again.ended.wait(10)
    assert [s["status"] for s in again.statuses()] == [outcome]


def test_fifty_streams_of_one_order_all_get_every_change_from_one_read_each(
    api: httpx.Client, admin: User, customer: User, staff: User, streams: list[EventStream]
) -> None:
    order_id = confirmed_order(api, admin, customer)
    source = fresh_loopback_address()
    opened: list[EventStream] = []
    lock = threading.Lock()

    def watch(_: int) -> None:
        stream = EventStream(f"/api/orders/{order_id}/events", customer.access_token, source)
        with lock:
            opened.append(stream)
            streams.append(stream)
        stream.open()

    threads = [threading.Thread(target=watch, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [s.status for s in opened] == [200] * 50
    for stream in opened:
        stream.wait_events(1)
    reads_before = order_metric("order_stream_reads_total")
    for status in ("PREPARING", "SHIPPED", "DELIVERED"):
        assert step(api, staff, order_id, status).status_code == 200
        wait_for(
            lambda status=status: all(
                s.statuses()[-1]["fulfilment"]["status"] == status for s in opened
            ),
            what=f"{status} on all fifty streams",
        )
    for stream in opened:
        assert stream.ended.wait(10)
    expected = [s["fulfilment"]["status"] for s in opened[0].statuses()]
    assert expected == ["NOT_STARTED", "PREPARING", "SHIPPED", "DELIVERED"]
    for stream in opened:
        assert [s["fulfilment"]["status"] for s in stream.statuses()] == expected
        assert stream.statuses() == opened[0].statuses()  # the same bodies, byte for byte
    # One read per change for all fifty (a few more if other orders changed meanwhile while
    # someone watched them), not one per stream.
    assert order_metric("order_stream_reads_total") - reads_before < 50


def test_who_may_stream_what(
    api: httpx.Client, admin: User, customer: User, staff: User, streams: list[EventStream]
) -> None:
    order_id = confirmed_order(api, admin, customer)
    path = f"/api/orders/{order_id}/events"
    assert open_stream(streams, path, None).status == 401
    stranger = open_stream(streams, path, register(api))
    assert (stranger.status, stranger.ended.is_set()) == (404, True)  # at once, not a stream
    unknown = open_stream(streams, f"/api/orders/{uuid.uuid4()}/events", customer)
    assert unknown.status == 404
    assert open_stream(streams, "/api/orders/42/events", customer).status == 422
    for refused in (customer, create_guest()):
        board = open_stream(streams, "/api/orders/events", refused)
        assert board.status == 403, board.body
    assert open_stream(streams, "/api/orders/events", None).status == 401
    # Staff see any order's stream, and the board sees every order's changes.
    theirs = open_stream(streams, path, staff)
    assert theirs.status == 200
    board = open_stream(streams, "/api/orders/events", staff)
    assert board.status == 200 and board.headers["content-type"].startswith("text/event-stream")
    assert step(api, staff, order_id, "PREPARING").status_code == 200
    wait_for(
        lambda: any(
            s["order_id"] == order_id and s["fulfilment"]["status"] == "PREPARING"
            for s in board.statuses()
        ),
        what="the change on the staff board",
    )
    wait_for(lambda: theirs.statuses()[-1]["fulfilment"]["status"] == "PREPARING", what="staff")


def test_a_client_that_leaves_releases_its_stream_at_once(
    api: httpx.Client, admin: User, customer: User, streams: list[EventStream]
) -> None:
    order_id = confirmed_order(api, admin, customer)
    before = open_streams_gauge()
    mine = [open_stream(streams, f"/api/orders/{order_id}/events", customer) for _ in range(3)]
    for stream in mine:
        stream.wait_events(1)
    wait_for(lambda: open_streams_gauge() >= before + 3, what="three streams counted")
    mine[0].leave()
    mine[1].leave()
    # Through the gateway, without waiting for a keep-alive to find the connection gone.
    wait_for(lambda: open_streams_gauge() == before + 1, timeout=5, what="two streams released")
    mine[2].leave()
    wait_for(lambda: open_streams_gauge() == before, timeout=5, what="the last released")


def test_an_idle_stream_gets_keepalives_and_outlives_the_gateways_read_timeout(
    api: httpx.Client, admin: User, customer: User, streams: list[EventStream]
) -> None:
    """ORDER_STREAM_HEARTBEAT_SECONDS (10) is below GATEWAY_UPSTREAM_READ_TIMEOUT_SECONDS (15):
    two keep-alives mean the stream stayed open past the gateway's read timeout."""
    order_id = confirmed_order(api, admin, customer)
    stream = open_stream(streams, f"/api/orders/{order_id}/events", customer)
    stream.wait_events(1)
    wait_for(lambda: stream.comments.count("keepalive") >= 2, timeout=40, what="two keep-alives")
    assert not stream.ended.is_set()
    assert len(stream.events) == 1  # nothing changed: only the first state


def test_the_listener_comes_back_after_its_connection_is_cut_and_streams_carry_on(
    api: httpx.Client, admin: User, customer: User, staff: User, streams: list[EventStream]
) -> None:
    order_id = confirmed_order(api, admin, customer)
    stream = open_stream(streams, f"/api/orders/{order_id}/events", customer)
    stream.wait_events(1)
    reconnects = order_metric("order_change_listener_reconnects_total")
    with psycopg2.connect(layout.admin_url("order_service")) as conn, conn.cursor() as cur:
        # What a database restart does to the listener's session.
        cur.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = 'order-service:order-changes'"
        )
        row = cur.fetchone()
        assert row is not None and row[0] >= 1
    wait_for(
        lambda: order_metric("order_change_listener_reconnects_total") > reconnects,
        timeout=30,
        what="the listener connected again",
    )
    assert step(api, staff, order_id, "PREPARING").status_code == 200
    wait_for(lambda: stream.statuses()[-1]["fulfilment"]["status"] == "PREPARING", what="change")


@pytest.fixture(scope="module")
def small_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An order_service of its own, on a throw-away database, with room for two streams and a
    keep-alive every 0.3 s; out of Eureka (the gateway never sends it traffic) and with no
    reachable broker (it must not join the real consumer group). Yields its base URL."""
    with scratch_database("order", migrations="order_service") as url:
        port = free_port()
        process = ManagedProcess(
            [sys.executable, "-m", "order_service"],
            {
                "ORDER_PORT": str(port),
                "ORDER_DATABASE_URL": sqlalchemy_url(url),
                "ORDER_STREAMS_MAX": "2",
                "ORDER_STREAM_HEARTBEAT_SECONDS": "0.3",
                "EUREKA_ENABLED": "false",
                "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
            },
            Path(tmp_path_factory.mktemp("small")) / "order_service.log",
            http_port=port,
        ).start()
        try:
            wait_for(
                lambda: (process.health() or {}).get("database") == "ok",
                timeout=60,
                what=f"the small order_service to answer: {process.output()[-2000:]}",
            )
            yield f"http://127.0.0.1:{port}"
        finally:
            process.stop()


def test_at_most_orders_streams_max_streams_and_a_slot_comes_back_when_a_client_leaves(
    small_instance: str, admin: User
) -> None:
    with httpx.Client(base_url=small_instance, timeout=10) as client:

        def board() -> httpx.Response:
            """GET /api/orders/events, its body left unread (a stream never ends)."""
            request = client.build_request("GET", "/api/orders/events", headers=admin.auth)
            return client.send(request, stream=True)

        def opened() -> httpx.Response | None:
            response = board()
            if response.status_code == 200:
                return response
            response.close()
            return None

        first, second = board(), board()
        try:
            assert (first.status_code, second.status_code) == (200, 200)
            refused = board()
            refused.read()
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"] == "5"
            assert "streams" in refused.json()["detail"]
            # An idle stream hears a keep-alive every ORDER_STREAM_HEARTBEAT_SECONDS.
            assert next(line for line in second.iter_lines() if line) == ": keepalive"
            second.close()  # the client leaves: its slot comes back
            third = wait_for(opened, timeout=10, what="a slot freed by the client that left")
            try:
                again = board()
                again.read()
                assert again.status_code == 503
            finally:
                third.close()
        finally:
            first.close()
            second.close()
