"""The order saga end to end, through the gateway, with every process real."""

from __future__ import annotations

import mailbox
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import psycopg2
import pytest
from confluent_kafka import Producer

from devstack import layout
from tests.e2e.conftest import User, register
from tests.e2e.saga_support import (
    FINAL,
    create_product,
    net_charge,
    order,
    payments,
    place_order,
    port_of,
    service_metric,
    stock,
    stock_row,
    stopped,
    wait_order,
)
from tests.support import TopicReader, headers_of, wait_for

pytestmark = pytest.mark.e2e


def conserved(product_id: str, initial: int) -> dict[str, int]:
    row = stock_row(product_id)
    assert row["stock_available"] >= 0 and row["stock_reserved"] >= 0
    assert row["stock_available"] + row["stock_reserved"] + row["stock_sold"] == initial, row
    return row


def mails_to(address: str) -> list[mailbox.MaildirMessage]:
    box = mailbox.Maildir(layout.VAR / "mail", create=False)
    return [message for message in box if address in (message["To"] or "")]


def test_happy_path_confirms_charges_commits_and_notifies(
    api: httpx.Client, admin: User, customer: User
) -> None:
    product = create_product(api, admin, stock=5, price="12.50")
    response = place_order(api, customer, [(product, 2)])
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "PENDING"
    order_id = response.json()["order_id"]

    done = wait_order(
        api, customer, order_id, until=lambda o: o["inventory"]["status"] == "COMMITTED"
    )
    assert done["status"] == "CONFIRMED"
    assert done["payment"]["status"] == "AUTHORIZED"
    assert done["total"] == "25.00" and done["currency"] == "EUR"
    assert done["items"] == [{"product_id": product, "quantity": 2, "unit_price": "12.50"}]
    assert stock(api, product) == 3
    assert conserved(product, 5)["stock_sold"] == 2
    (payment,) = payments(api, customer, order_id)
    assert payment["status"] == "AUTHORIZED" and payment["amount"] == "25.00"

    notes = wait_for(
        lambda: [
            n
            for n in api.get("/api/notifications", headers=customer.auth).json()
            if n["kind"] == "order_confirmed"
        ],
        what="order_confirmed notification",
    )
    assert len(notes) == 1
    wait_for(
        lambda: any(
            n["status"] == "SENT"
            for n in api.get("/api/notifications", headers=customer.auth).json()
            if n["kind"] == "order_confirmed"
        ),
        what="email sent",
    )
    # The confirmation (the order's other mail says it was placed).
    mails = wait_for(
        lambda: [
            m
            for m in mails_to(customer.email)
            if order_id in m.get_payload() and "is confirmed" in (m["Subject"] or "")
        ],
        what="email in the mail sink",
    )
    assert len(mails) == 1

    steps = [
        s["event_type"]
        for s in api.get(f"/api/orders/{order_id}/timeline", headers=customer.auth).json()
    ]
    for expected in (
        "order.created",
        "stock.reserved",
        "payment.authorized",
        "order.confirmed",
        "stock.committed",
    ):
        assert expected in steps, steps
    assert steps[0] == "order.created"
    assert steps.index("order.confirmed") > steps.index("stock.reserved")


def test_out_of_stock_rejects_and_leaves_stock_alone(
    api: httpx.Client, admin: User, customer: User
) -> None:
    product = create_product(api, admin, stock=1)
    order_id = place_order(api, customer, [(product, 2)]).json()["order_id"]
    done = wait_order(api, customer, order_id, until=lambda o: o["status"] in FINAL)
    assert done["status"] == "REJECTED"
    assert done["inventory"]["status"] == "INSUFFICIENT"
    assert "insufficient" in (done["failure_reason"] or "").lower()
    assert stock(api, product) == 1
    conserved(product, 1)
    assert net_charge(payments(api, customer, order_id)) == 0


def test_declined_payment_cancels_and_restores_stock(
    api: httpx.Client, admin: User, customer: User
) -> None:
    product = create_product(api, admin, stock=3, price="3000.00")
    order_id = place_order(api, customer, [(product, 2)]).json()["order_id"]  # 6000 > 5000
    done = wait_order(
        api,
        customer,
        order_id,
        until=lambda o: o["status"] in FINAL and o["inventory"]["status"] == "RELEASED",
    )
    assert done["status"] == "CANCELLED"
    assert done["payment"]["status"] == "DECLINED"
    assert "declined" in done["failure_reason"]
    assert stock(api, product) == 3
    conserved(product, 3)
    assert net_charge(payments(api, customer, order_id)) == 0


def test_cancel_while_pending_compensates(api: httpx.Client, admin: User, customer: User) -> None:
    product = create_product(api, admin, stock=4)
    with stopped("product_service"):  # nobody reserves: the order stays PENDING
        order_id = place_order(api, customer, [(product, 1)]).json()["order_id"]
        assert order(api, customer, order_id)["status"] == "PENDING"
        cancelled = api.post(f"/api/orders/{order_id}/cancel", headers=customer.auth)
        assert cancelled.status_code == 202, cancelled.text
        assert cancelled.json() == {"order_id": order_id, "status": "CANCELLED"}
    # product_service back: it reserves (order.created), then releases (order.cancelled).
    done = wait_order(
        api,
        customer,
        order_id,
        until=lambda o: (
            o["inventory"]["status"] == "RELEASED"
            and o["payment"]["status"] in ("VOIDED", "REFUNDED")
        ),
    )
    assert done["status"] == "CANCELLED"
    assert stock(api, product) == 4
    conserved(product, 4)
    assert net_charge(payments(api, customer, order_id)) == 0


def test_cancel_while_stock_reserved_compensates(
    api: httpx.Client, admin: User, customer: User
) -> None:
    product = create_product(api, admin, stock=4)
    with stopped("payment_service"):  # stock is reserved, nobody pays
        order_id = place_order(api, customer, [(product, 3)]).json()["order_id"]
        wait_order(api, customer, order_id, until=lambda o: o["status"] == "STOCK_RESERVED")
        assert stock(api, product) == 1
        assert api.post(f"/api/orders/{order_id}/cancel", headers=customer.auth).status_code == 202
        wait_order(api, customer, order_id, until=lambda o: o["inventory"]["status"] == "RELEASED")
        assert stock(api, product) == 4
    done = wait_order(
        api,
        customer,
        order_id,
        until=lambda o: o["payment"]["status"] in ("VOIDED", "REFUNDED", "DECLINED"),
    )
    assert done["status"] == "CANCELLED"
    conserved(product, 4)
    assert net_charge(payments(api, customer, order_id)) == 0


def test_cancel_after_confirmed_is_409(api: httpx.Client, admin: User, customer: User) -> None:
    product = create_product(api, admin, stock=2)
    order_id = place_order(api, customer, [(product, 1)]).json()["order_id"]
    wait_order(api, customer, order_id, until=lambda o: o["status"] == "CONFIRMED")
    response = api.post(f"/api/orders/{order_id}/cancel", headers=customer.auth)
    assert response.status_code == 409
    assert "CONFIRMED" in response.json()["detail"]
    assert order(api, customer, order_id)["status"] == "CONFIRMED"


def test_fifty_concurrent_orders_for_ten_units(api: httpx.Client, admin: User) -> None:
    product = create_product(api, admin, stock=10, price="1.00")
    buyers = [register(api) for _ in range(5)]
    negative: list[dict[str, int]] = []
    stop = threading.Event()

    def watch() -> None:  # samples the invariant while the orders race
        while not stop.is_set():
            row = stock_row(product)
            if row["stock_available"] < 0 or (
                row["stock_available"] + row["stock_reserved"] + row["stock_sold"] != 10
            ):
                negative.append(row)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(max_workers=10) as pool:
            responses = list(
                pool.map(
                    lambda i: (buyers[i % 5], place_order(api, buyers[i % 5], [(product, 1)])),
                    range(50),
                )
            )
        assert all(r.status_code == 202 for _, r in responses)
        finals = [
            wait_order(
                api, user, r.json()["order_id"], until=lambda o: o["status"] in FINAL, timeout=120
            )
            for user, r in responses
        ]
    finally:
        stop.set()
        watcher.join()
    statuses = [f["status"] for f in finals]
    assert statuses.count("CONFIRMED") == 10, statuses
    assert statuses.count("REJECTED") == 40
    assert not negative, negative[:3]
    wait_for(lambda: stock_row(product)["stock_sold"] == 10, what="all confirmed stock committed")
    assert stock(api, product) == 0
    conserved(product, 10)


def test_stalled_saga_times_out_and_nothing_is_charged(
    api: httpx.Client, admin: User, customer: User
) -> None:
    product = create_product(api, admin, stock=2)
    with stopped("payment_service"):
        order_id = place_order(api, customer, [(product, 1)]).json()["order_id"]
        done = wait_order(
            api, customer, order_id, until=lambda o: o["status"] in FINAL, timeout=120
        )
        assert done["status"] == "CANCELLED"
        assert done["failure_reason"] == "saga timed out"
        wait_order(api, customer, order_id, until=lambda o: o["inventory"]["status"] == "RELEASED")
        assert stock(api, product) == 2
    # The payment service is back and sees stock.reserved and order.cancelled, in any order.
    wait_order(
        api, customer, order_id, until=lambda o: o["payment"]["status"] in ("VOIDED", "DECLINED")
    )
    rows = payments(api, customer, order_id)
    assert all(p["status"] in ("VOIDED", "DECLINED") for p in rows), rows
    assert net_charge(rows) == 0
    conserved(product, 2)


def test_redelivered_events_change_nothing(api: httpx.Client, admin: User, customer: User) -> None:
    product = create_product(api, admin, stock=3)
    order_id = place_order(api, customer, [(product, 1)]).json()["order_id"]
    wait_order(api, customer, order_id, until=lambda o: o["inventory"]["status"] == "COMMITTED")
    wait_for(
        lambda: any(
            n["kind"] == "order_confirmed" and n["status"] == "SENT"
            for n in api.get("/api/notifications", headers=customer.auth).json()
        ),
        what="notification sent",
    )
    before = (
        stock_row(product),
        payments(api, customer, order_id),
        api.get("/api/notifications", headers=customer.auth).json(),
    )

    # Deliver this order's events a second time, byte for byte (same event ids).
    wanted = {
        "order.events": {"order.created", "order.confirmed"},
        "stock_reservation.events": {"stock.reserved", "stock.committed"},
    }
    copies = []
    for topic, types in wanted.items():
        reader = TopicReader(topic)
        try:
            messages = reader.read_until(
                lambda ms, types=types: (
                    types
                    <= {headers_of(m)["event_type"] for m in ms if m.key() == order_id.encode()}
                )
            )
        finally:
            reader.close()
        copies += [m for m in messages if m.key() == order_id.encode()]
    duplicates = {
        (port_of("product_service"), "product-service", "order.confirmed"),
        (port_of("payment_service"), "payment-service", "stock.reserved"),
        (port_of("notification_service"), "notification-service", "order.confirmed"),
    }
    skipped_before = {
        d: service_metric(d[0], "inbox_duplicates_skipped_total", consumer=d[1], event_type=d[2])
        for d in duplicates
    }
    producer = Producer({"bootstrap.servers": layout.KAFKA_BOOTSTRAP})
    for message in copies:
        producer.produce(
            message.topic(), key=message.key(), value=message.value(), headers=message.headers()
        )
    assert producer.flush(30) == 0
    for d in duplicates:
        wait_for(
            lambda d=d: (
                service_metric(
                    d[0], "inbox_duplicates_skipped_total", consumer=d[1], event_type=d[2]
                )
                > skipped_before[d]
            ),
            what=f"{d[1]} skipped the duplicate {d[2]}",
        )
    after = (
        stock_row(product),
        payments(api, customer, order_id),
        api.get("/api/notifications", headers=customer.auth).json(),
    )
    assert after == before


def test_customers_cannot_see_or_cancel_each_others_orders(
    api: httpx.Client, admin: User, customer: User
) -> None:
    product = create_product(api, admin, stock=2)
    order_id = place_order(api, customer, [(product, 1)]).json()["order_id"]
    wait_order(api, customer, order_id, until=lambda o: o["status"] in FINAL)
    stranger = register(api)
    assert api.get(f"/api/orders/{order_id}", headers=stranger.auth).status_code == 404
    assert api.get(f"/api/orders/{order_id}/timeline", headers=stranger.auth).status_code == 404
    assert api.post(f"/api/orders/{order_id}/cancel", headers=stranger.auth).status_code == 404
    assert payments(api, stranger, order_id) == []
    assert all(
        o["order_id"] != order_id
        for o in api.get("/api/orders", headers=stranger.auth).json()["items"]
    )
    assert api.get(f"/api/orders/{order_id}", headers=admin.auth).status_code == 200
    assert order(api, customer, order_id)["customer_id"] == customer.user_id


def _orders_of(user: User) -> int:
    with psycopg2.connect(layout.libpq_url("order_service")) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM orders WHERE customer_id = %s", (user.user_id,))
        return int(cur.fetchone()[0])


def test_bad_orders_are_4xx_and_write_nothing(
    api: httpx.Client, admin: User, customer: User
) -> None:
    product = create_product(api, admin, stock=5)
    bad_bodies = [
        {"items": []},
        {"items": [{"product_id": product, "quantity": 0}]},
        {"items": [{"product_id": product, "quantity": -1}]},
        {"items": [{"product_id": product, "quantity": "two"}]},
        {"items": [{"product_id": "not-a-uuid", "quantity": 1}]},
        {"items": [{"product_id": product, "quantity": 1}, {"product_id": product, "quantity": 1}]},
        {"items": [{"product_id": product}]},
        {},
    ]
    for body in bad_bodies:
        response = api.post("/api/orders", headers=customer.auth, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["detail"]
    unknown = place_order(api, customer, [(str(uuid.uuid4()), 1)])
    assert unknown.status_code == 422
    assert "unknown product" in unknown.json()["detail"]
    broken = api.post(
        "/api/orders",
        headers={**customer.auth, "Content-Type": "application/json"},
        content=b'{"items": [',
    )
    assert broken.status_code == 422
    assert api.post("/api/orders", json={"items": []}).status_code == 401
    assert (
        api.get("/api/orders", headers=customer.auth, params={"status": "LOST"}).status_code == 422
    )
    assert _orders_of(customer) == 0
    assert stock(api, product) == 5


def test_idempotency_key_returns_the_same_order(
    api: httpx.Client, admin: User, customer: User
) -> None:
    product = create_product(api, admin, stock=5)
    key = uuid.uuid4().hex
    first = place_order(api, customer, [(product, 1)], **{"Idempotency-Key": key})
    again = place_order(api, customer, [(product, 1)], **{"Idempotency-Key": key})
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["order_id"] == first.json()["order_id"]
    other = place_order(api, customer, [(product, 2)], **{"Idempotency-Key": key})
    assert other.status_code == 409
    assert _orders_of(customer) == 1
    # The same key from another customer is another order.
    stranger = register(api)
    theirs = place_order(api, stranger, [(product, 1)], **{"Idempotency-Key": key})
    assert theirs.status_code == 202 and theirs.json()["order_id"] != first.json()["order_id"]


def test_order_list_filters_by_status_and_paginates(
    api: httpx.Client, admin: User, customer: User
) -> None:
    product = create_product(api, admin, stock=2)
    ids = [place_order(api, customer, [(product, 1)]).json()["order_id"] for _ in range(3)]
    for order_id in ids:
        wait_order(api, customer, order_id, until=lambda o: o["status"] in FINAL)
    page = api.get("/api/orders", headers=customer.auth, params={"size": 2}).json()
    assert page["total"] == 3 and len(page["items"]) == 2 and page["size"] == 2
    confirmed = api.get("/api/orders", headers=customer.auth, params={"status": "CONFIRMED"}).json()
    rejected = api.get("/api/orders", headers=customer.auth, params={"status": "REJECTED"}).json()
    assert confirmed["total"] == 2 and rejected["total"] == 1
    assert {o["status"] for o in confirmed["items"]} == {"CONFIRMED"}
    assert Decimal(confirmed["items"][0]["total"]) == Decimal("10.00")
    second = api.get("/api/orders", headers=customer.auth, params={"size": 2, "page": 2}).json()
    assert second["page"] == 2 and len(second["items"]) == 1
    assert {o["order_id"] for o in page["items"] + second["items"]} == set(ids)
