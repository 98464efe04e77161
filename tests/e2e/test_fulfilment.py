"""Orders after the saga, through the gateway: the delivery address, payment method and
correlation id an order keeps; staff taking a confirmed order to DELIVERED one step at a time
(each step an event and a timeline entry); every refusal (401, 403, 404, 409, 422) writing
nothing; staff lists by fulfilment status; an archived product that can no longer be ordered
while its old orders still read; the order read model following the catalog's categories."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import psycopg2
import pytest

from devstack import layout
from tests.e2e.conftest import User, create_guest, register
from tests.e2e.order_support import ADDRESS, confirmed_order, staff_member, step, user_id_of
from tests.e2e.saga_support import FINAL, create_product, order, place_order, wait_order
from tests.support import TopicReader, headers_of, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def staff(api: httpx.Client, admin: User) -> User:
    """A staff member (not an admin)."""
    return staff_member(api, admin)


def _timeline(api: httpx.Client, user: User, order_id: str) -> list[tuple[str, str]]:
    response = api.get(f"/api/orders/{order_id}/timeline", headers=user.auth)
    assert response.status_code == 200, response.text
    return [(s["event_type"], s["step"]) for s in response.json()]


def _order_row(order_id: str) -> tuple[Any, ...]:
    with psycopg2.connect(layout.libpq_url("order_service")) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT status, fulfilment_status, fulfilment_updated_at, version FROM orders"
            " WHERE order_id = %s",
            (order_id,),
        )
        row = cur.fetchone()
    assert row is not None
    return tuple(row)


def test_an_order_keeps_its_address_payment_method_and_correlation_id(
    api: httpx.Client, admin: User, customer: User
) -> None:
    product = create_product(api, admin, stock=3)
    correlation = f"corr-{uuid.uuid4().hex}"
    response = api.post(
        "/api/orders",
        headers={**customer.auth, "X-Correlation-ID": correlation},
        json={
            "items": [{"product_id": product, "quantity": 1}],
            "delivery_address": ADDRESS,
            "payment_method": "card",
        },
    )
    assert response.status_code == 202, response.text
    shown = order(api, customer, response.json()["order_id"])
    assert shown["delivery_address"] == ADDRESS
    assert shown["payment_method"] == "card"
    assert shown["correlation_id"] == correlation
    assert shown["fulfilment"] == {"status": "NOT_STARTED", "updated_at": None}
    # Without an address: null; without a correlation id: the request's own id.
    plain = place_order(api, customer, [(product, 1)])
    assert plain.status_code == 202, plain.text
    shown = order(api, customer, plain.json()["order_id"])
    assert shown["delivery_address"] is None
    assert shown["correlation_id"]
    # order.created carries the address and the payment method.
    # The key once: the reader reads the topic from its start, and a long-lived stack's holds
    # hundreds of thousands of events (parsing the response per message took minutes).
    key = response.json()["order_id"].encode()
    reader = TopicReader("order.events")
    try:
        created = reader.read_until(
            lambda ms: any(
                m.key() == key and headers_of(m)["event_type"] == "order.created" for m in ms
            )
        )
    finally:
        reader.close()
    (payload,) = [
        json.loads(m.value())["payload"]
        for m in created
        if m.key() == key and headers_of(m)["event_type"] == "order.created"
    ]
    assert (payload["delivery_address"], payload["payment_method"]) == (ADDRESS, "card")


def test_staff_take_a_confirmed_order_to_delivered_one_step_at_a_time(
    api: httpx.Client, admin: User, customer: User, staff: User
) -> None:
    order_id = confirmed_order(api, admin, customer)
    for status, by in (("PREPARING", staff), ("SHIPPED", staff), ("DELIVERED", admin)):
        response = step(api, by, order_id, status)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["order_id"] == order_id and body["status"] == "CONFIRMED"
        assert body["fulfilment"]["status"] == status
        assert body["fulfilment"]["updated_at"] is not None
        assert body["delivery_address"] == ADDRESS
    assert order(api, customer, order_id)["fulfilment"]["status"] == "DELIVERED"
    assert _timeline(api, customer, order_id)[-3:] == [
        ("order.preparing", "preparing the order"),
        ("order.shipped", "order shipped"),
        ("order.delivered", "order delivered"),
    ]
    # Each step is an event on order.events, saying who took it.
    reader = TopicReader("order.events")
    try:
        messages = reader.read_until(
            lambda ms: any(
                m.key() == order_id.encode() and headers_of(m)["event_type"] == "order.delivered"
                for m in ms
            )
        )
    finally:
        reader.close()
    steps = [
        (headers_of(m)["event_type"], json.loads(m.value())["payload"])
        for m in messages
        if m.key() == order_id.encode()
        and headers_of(m)["event_type"] in ("order.preparing", "order.shipped", "order.delivered")
    ]
    assert [(kind, p["fulfilment_status"], p["changed_by"]) for kind, p in steps] == [
        ("order.preparing", "PREPARING", staff.user_id),
        ("order.shipped", "SHIPPED", staff.user_id),
        ("order.delivered", "DELIVERED", user_id_of(admin)),
    ]
    assert all(p["customer_id"] == customer.user_id for _, p in steps)


def test_refused_steps_answer_their_status_and_write_nothing(
    api: httpx.Client, admin: User, customer: User, staff: User
) -> None:
    order_id = confirmed_order(api, admin, customer)
    before = (_order_row(order_id), _timeline(api, customer, order_id))
    path = f"/api/orders/{order_id}/fulfilment"
    assert api.post(path, json={"status": "PREPARING"}).status_code == 401
    for refused in (customer, register(api), create_guest()):
        response = step(api, refused, order_id, "PREPARING")
        assert response.status_code == 403, response.text
        assert "staff" in response.json()["detail"]
    unknown = step(api, staff, str(uuid.uuid4()), "PREPARING")
    assert unknown.status_code == 404, unknown.text
    for skipped in ("SHIPPED", "DELIVERED", "NOT_STARTED"):
        response = step(api, staff, order_id, skipped)
        assert response.status_code == 409, response.text
        assert "PREPARING" in response.json()["detail"]
    for bad in ({"status": "LOST"}, {"status": "preparing"}, {}, {"status": "PREPARING", "x": 1}):
        response = api.post(path, headers=staff.auth, json=bad)
        assert response.status_code == 422, (bad, response.text)
    not_a_uuid = api.post(
        "/api/orders/42/fulfilment", headers=staff.auth, json={"status": "PREPARING"}
    )
    assert not_a_uuid.status_code == 422
    assert (_order_row(order_id), _timeline(api, customer, order_id)) == before
    # Forward once, then neither the same step again nor back.
    assert step(api, staff, order_id, "PREPARING").status_code == 200
    moved = _order_row(order_id)
    for again in ("PREPARING", "NOT_STARTED", "DELIVERED"):
        assert step(api, staff, order_id, again).status_code == 409
    assert _order_row(order_id) == moved


def test_only_a_confirmed_order_is_fulfilled(
    api: httpx.Client, admin: User, customer: User, staff: User
) -> None:
    product = create_product(api, admin, stock=1)
    rejected = place_order(api, customer, [(product, 2)]).json()["order_id"]
    done = wait_order(api, customer, rejected, until=lambda o: o["status"] in FINAL)
    assert done["status"] == "REJECTED"
    response = step(api, staff, rejected, "PREPARING")
    assert response.status_code == 409, response.text
    assert "REJECTED" in response.json()["detail"]
    assert order(api, customer, rejected)["fulfilment"]["status"] == "NOT_STARTED"


def test_staff_list_every_customers_orders_by_fulfilment_status(
    api: httpx.Client, admin: User, customer: User, staff: User
) -> None:
    other = register(api)
    mine = confirmed_order(api, admin, customer)
    theirs = confirmed_order(api, admin, other)
    for order_id in (mine, theirs):
        assert step(api, staff, order_id, "PREPARING").status_code == 200
    assert step(api, staff, theirs, "SHIPPED").status_code == 200

    def listed(user: User, **params: str) -> set[str]:
        response = api.get("/api/orders", headers=user.auth, params={"size": 100, **params})
        assert response.status_code == 200, response.text
        return {o["order_id"] for o in response.json()["items"]}

    assert {mine, theirs} <= listed(staff, fulfilment="PREPARING") | listed(
        staff, fulfilment="SHIPPED"
    )
    assert mine in listed(staff, fulfilment="PREPARING")
    assert theirs not in listed(staff, fulfilment="PREPARING")
    assert theirs in listed(admin, fulfilment="SHIPPED", status="CONFIRMED")
    # A customer sees only their own, with the same filter.
    assert listed(customer, fulfilment="PREPARING") == {mine}
    assert listed(customer, fulfilment="SHIPPED") == set()
    assert listed(other, fulfilment="SHIPPED") == {theirs}
    assert api.get(f"/api/orders/{theirs}", headers=staff.auth).status_code == 200
    assert api.get(f"/api/orders/{theirs}", headers=customer.auth).status_code == 404
    bad = api.get("/api/orders", headers=staff.auth, params={"fulfilment": "LOST"})
    assert bad.status_code == 422


def test_only_card_and_pix_are_accepted_as_payment_methods(
    api: httpx.Client, admin: User, customer: User
) -> None:
    product = create_product(api, admin, stock=2)
    for method in ("PIX", "cash", "", None, 1):
        response = api.post(
            "/api/orders",
            headers=customer.auth,
            json={"items": [{"product_id": product, "quantity": 1}], "payment_method": method},
        )
        assert response.status_code == 422, (method, response.text)
    listed = api.get("/api/orders", headers=customer.auth).json()
    assert listed["total"] == 0  # nothing written


def _read_model(product_id: str) -> tuple[Any, ...] | None:
    with psycopg2.connect(layout.libpq_url("order_service")) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT category_id::text, archived_at IS NOT NULL FROM products WHERE product_id = %s",
            (product_id,),
        )
        row = cur.fetchone()
    return tuple(row) if row is not None else None


def _category_row(category_id: str) -> tuple[Any, ...] | None:
    with psycopg2.connect(layout.libpq_url("order_service")) as conn, conn.cursor() as cur:
        cur.execute("SELECT name, slug FROM categories WHERE category_id = %s", (category_id,))
        row = cur.fetchone()
    return tuple(row) if row is not None else None


def test_an_archived_product_cannot_be_ordered_but_its_old_orders_still_read(
    api: httpx.Client, admin: User, customer: User, staff: User
) -> None:
    product = create_product(api, admin, stock=10, price="4.00")
    old = confirmed_order(api, admin, customer, product=product)
    archived = api.delete(f"/api/products/{product}", headers=admin.auth)
    assert archived.status_code == 204, archived.text
    wait_for(lambda: (_read_model(product) or (None, False))[1], what="product.archived applied")
    other = create_product(api, admin, stock=10)
    refused = place_order(api, customer, [(other, 1), (product, 1)])
    assert refused.status_code == 422, refused.text
    assert product in refused.json()["detail"] and other not in refused.json()["detail"]
    assert "archived" in refused.json()["detail"]
    assert {
        o["order_id"] for o in api.get("/api/orders", headers=customer.auth).json()["items"]
    } == {old}  # nothing written
    kept = order(api, customer, old)
    assert kept["items"] == [{"product_id": product, "quantity": 1, "unit_price": "4.00"}]
    assert step(api, staff, old, "PREPARING").status_code == 200  # still fulfilled
    assert api.get(f"/api/orders/{old}/timeline", headers=customer.auth).status_code == 200


def test_the_order_read_model_follows_the_catalogs_categories(
    api: httpx.Client, admin: User
) -> None:
    slug = f"cat-{uuid.uuid4().hex[:10]}"
    created = api.post("/api/categories", headers=admin.auth, json={"name": slug, "slug": slug})
    assert created.status_code == 201, created.text
    category = created.json()["category_id"]
    wait_for(lambda: _category_row(category) == (slug, slug), what="category.created applied")
    renamed = api.patch(f"/api/categories/{category}", headers=admin.auth, json={"name": "Renamed"})
    assert renamed.status_code == 200, renamed.text
    wait_for(lambda: _category_row(category) == ("Renamed", slug), what="category.updated")
    product = api.post(
        "/api/products",
        headers=admin.auth,
        json={
            "sku": f"SKU-{uuid.uuid4().hex[:10].upper()}",
            "name": "in a category",
            "price": "1.00",
            "currency": "EUR",
            "stock": 1,
            "category_id": category,
        },
    )
    assert product.status_code == 201, product.text
    product_id = product.json()["product_id"]
    wait_for(lambda: _read_model(product_id) == (category, False), what="product with category")
    moved = api.patch(f"/api/products/{product_id}", headers=admin.auth, json={"category_id": None})
    assert moved.status_code == 200, moved.text
    wait_for(lambda: _read_model(product_id) == (None, False), what="product.updated applied")
    deleted = api.delete(f"/api/categories/{category}", headers=admin.auth)
    assert deleted.status_code == 204, deleted.text
    wait_for(lambda: _category_row(category) is None, what="category.deleted applied")
