"""The catalog's categories and archive through the gateway on the running stack: categories
created (slug derived or given), listed by name, renamed, deleted when empty; products in a
category and the filter; archived products gone from the catalog while old orders keep them.
Every refusal (401, 403, 404, 409, 422) is checked to write nothing: no row and no outbox event
of what the request named (scoped counts: other tests write to the same database meanwhile)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg2
import pytest

from devstack import layout
from tests.e2e.conftest import User, register
from tests.e2e.saga_support import create_product, place_order, wait_order

pytestmark = pytest.mark.e2e

NOT_FOUND_CATEGORY = {"detail": "category not found"}
NOT_FOUND_PRODUCT = {"detail": "product not found"}


def query(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of product_service's database."""
    with (
        psycopg2.connect(layout.libpq_url("product_service")) as conn,
        conn.cursor() as cur,
    ):
        cur.execute(sql, params)
        return list(cur.fetchall())


def written(marker: str) -> tuple[int, int, int]:
    """Categories and products whose name, slug or SKU has ``marker``, and outbox events whose
    payload has it: what a refused request about ``marker`` must not add."""
    [row] = query(
        "SELECT (SELECT count(*) FROM categories WHERE name ILIKE %s OR slug ILIKE %s),"
        " (SELECT count(*) FROM products WHERE name ILIKE %s OR sku ILIKE %s),"
        " (SELECT count(*) FROM outbox WHERE payload::text ILIKE %s)",
        *[f"%{marker}%"] * 5,
    )
    return int(row[0]), int(row[1]), int(row[2])


def events_of(aggregate_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The outbox events of one category or product, in order."""
    return [
        (event_type, payload)
        for event_type, payload in query(
            "SELECT event_type, payload FROM outbox WHERE aggregate_id = %s ORDER BY id",
            aggregate_id,
        )
    ]


@pytest.fixture
def marker() -> str:
    """A word only this test's names and slugs contain."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
def shopper(api: httpx.Client) -> User:
    """A customer: a valid token without the admin role."""
    return register(api)


class Admin:
    """The admin's catalog calls, each asserting its status."""

    def __init__(self, api: httpx.Client, admin: User) -> None:
        self.api = api
        self.auth = admin.auth

    def category(self, name: str, expect: int = 201, **fields: Any) -> dict[str, Any]:
        response = self.api.post(
            "/api/categories", json={"name": name, **fields}, headers=self.auth
        )
        assert response.status_code == expect, response.text
        body: dict[str, Any] = response.json()
        return body

    def product(self, marker: str, expect: int = 201, **fields: Any) -> dict[str, Any]:
        body = {
            "sku": f"CAT-{marker}-{uuid.uuid4().hex[:6]}",
            "name": f"Chá {marker}",
            "price": "7.50",
            "currency": "BRL",
            "stock": 10,
            **fields,
        }
        response = self.api.post("/api/products", json=body, headers=self.auth)
        assert response.status_code == expect, response.text
        created: dict[str, Any] = response.json()
        return created

    def delete(self, path: str) -> httpx.Response:
        return self.api.delete(path, headers=self.auth)


@pytest.fixture
def catalog(api: httpx.Client, admin: User) -> Iterator[Admin]:
    """The admin's calls; the categories a test leaves behind are deleted when they are empty."""
    before = {row[0] for row in query("SELECT category_id::text FROM categories")}
    calls = Admin(api, admin)
    yield calls
    for (category_id,) in query("SELECT category_id::text FROM categories"):
        if category_id not in before:
            calls.delete(f"/api/categories/{category_id}")


def categories(api: httpx.Client, marker: str) -> list[dict[str, Any]]:
    """GET /api/categories, without a token, those whose slug has ``marker``."""
    response = api.get("/api/categories")
    assert response.status_code == 200, response.text
    return [c for c in response.json() if marker in c["slug"]]


def products(api: httpx.Client, **params: Any) -> dict[str, Any]:
    """GET /api/products, without a token."""
    response = api.get("/api/products", params={"size": 100, **params})
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


# -- categories --------------------------------------------------------------------------------


def test_a_category_from_creation_to_deletion(
    api: httpx.Client, catalog: Admin, marker: str
) -> None:
    created = catalog.category(f"Açaí Tigela {marker}", description="Com granola")
    category_id = created["category_id"]
    assert created == {
        "category_id": category_id,
        "name": f"Açaí Tigela {marker}",
        "slug": f"acai-tigela-{marker}",
        "description": "Com granola",
    }
    assert categories(api, marker) == [created]

    path = f"/api/categories/{category_id}"
    renamed = api.patch(
        path, json={"name": f"Açaí na Tigela {marker}", "description": None}, headers=catalog.auth
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json() == {
        **created,
        "name": f"Açaí na Tigela {marker}",
        "description": None,
    }  # the slug stays
    assert categories(api, marker) == [renamed.json()]
    unchanged = api.patch(path, json={}, headers=catalog.auth)
    assert unchanged.status_code == 200 and unchanged.json() == renamed.json()

    deleted = catalog.delete(path)
    assert deleted.status_code == 204 and deleted.content == b""
    assert categories(api, marker) == []
    assert events_of(category_id) == [
        ("category.created", created),
        ("category.updated", renamed.json()),
        ("category.deleted", {"category_id": category_id, "slug": f"acai-tigela-{marker}"}),
    ]
    assert catalog.delete(path).json() == NOT_FOUND_CATEGORY
    assert api.patch(path, json={"name": "x"}, headers=catalog.auth).status_code == 404


def test_categories_are_listed_by_name_as_a_reader_sorts(
    api: httpx.Client, catalog: Admin, marker: str
) -> None:
    for name in (f"Zimbro {marker}", f"açaí {marker}", f"Bebidas {marker}", f"Água {marker}"):
        catalog.category(name)
    assert [c["name"] for c in categories(api, marker)] == [
        f"açaí {marker}",
        f"Água {marker}",
        f"Bebidas {marker}",
        f"Zimbro {marker}",
    ]
    head = api.head("/api/categories")
    assert head.status_code == 200


def test_a_given_slug_is_kept(catalog: Admin, marker: str) -> None:
    created = catalog.category("☕", slug=f"cafe-{marker}")
    assert created["slug"] == f"cafe-{marker}" and created["name"] == "☕"


@pytest.mark.parametrize(
    "slug",
    [
        "Bebidas-{m}",
        "bebidas--{m}",
        "-bebidas-{m}",
        "bebidas-{m}-",
        "açaí-{m}",
        "a b {m}",
        "a_b-{m}",
        "{m}" + "x" * 100,
        "",
    ],
)
def test_a_slug_that_does_not_look_like_one_is_refused_writing_nothing(
    catalog: Admin, marker: str, slug: str
) -> None:
    before = written(marker)
    refused = catalog.category(f"Bebidas {marker}", expect=422, slug=slug.format(m=marker))
    assert ["body", "slug"] in [error["loc"] for error in refused["detail"]]
    assert written(marker) == before


def test_a_name_without_a_slug_in_it_needs_a_slug(catalog: Admin) -> None:
    name = "☕ 日本茶 !"
    count = (
        "SELECT (SELECT count(*) FROM categories WHERE name = %s),"
        " (SELECT count(*) FROM outbox WHERE payload->>'name' = %s)"
    )
    before = query(count, name, name)
    refused = catalog.category(name, expect=422)
    assert refused == {
        "detail": f"no slug can be derived from the name {name!r} (it has no letter or digit"
        " that folds to ASCII): give a slug"
    }
    assert query(count, name, name) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": None}, "name"),
        ({"name": "ok", "description": "x" * 2001}, "description"),
        ({"name": "ok", "colour": "red"}, "colour"),
    ],
)
def test_bad_category_bodies_are_refused_writing_nothing(
    api: httpx.Client, catalog: Admin, marker: str, body: dict[str, Any], field: str
) -> None:
    before = written(marker)
    if "name" in body and body["name"] == "ok":
        body = {**body, "name": f"ok {marker}"}
    response = api.post("/api/categories", json=body, headers=catalog.auth)
    assert response.status_code == 422, response.text
    assert field in {str(part) for error in response.json()["detail"] for part in error["loc"]}
    assert written(marker) == before


def test_a_patch_cannot_change_the_slug_nor_clear_the_name(
    api: httpx.Client, catalog: Admin, marker: str
) -> None:
    created = catalog.category(f"Sucos {marker}")
    path = f"/api/categories/{created['category_id']}"
    for body in ({"slug": f"outro-{marker}"}, {"name": None}, {"name": ""}):
        response = api.patch(path, json=body, headers=catalog.auth)
        assert response.status_code == 422, (body, response.text)
    assert categories(api, marker) == [created]
    assert [kind for kind, _ in events_of(created["category_id"])] == ["category.created"]


def test_a_slug_in_use_is_a_conflict_writing_nothing(catalog: Admin, marker: str) -> None:
    first = catalog.category(f"Bebidas Quentes {marker}")
    before = written(marker)
    again = catalog.category(f"bebidas  quentes {marker}", expect=409)
    assert again == {"detail": f"a category with slug 'bebidas-quentes-{marker}' already exists"}
    catalog.category(f"Outra {marker}", expect=409, slug=first["slug"])
    assert written(marker) == before


def test_of_admins_adding_one_slug_at_once_one_wins_and_the_others_get_409(
    api: httpx.Client, catalog: Admin, marker: str
) -> None:
    def add(_: int) -> int:
        response = api.post(
            "/api/categories",
            json={"name": f"Doces {marker}", "slug": f"doces-{marker}"},
            headers=catalog.auth,
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(add, range(8)))
    assert statuses == [201] + [409] * 7
    assert written(marker) == (1, 0, 1)


def test_category_writes_need_an_admin_and_reads_need_nothing(
    api: httpx.Client, catalog: Admin, shopper: User, marker: str
) -> None:
    created = catalog.category(f"Salgados {marker}")
    path = f"/api/categories/{created['category_id']}"
    before = written(marker)
    for headers, status in (({}, 401), (shopper.auth, 403)):
        new = {"name": f"Nova {marker}"}
        assert api.post("/api/categories", json=new, headers=headers).status_code == status
        assert api.patch(path, json={"name": "x"}, headers=headers).status_code == status
        assert api.delete(path, headers=headers).status_code == status
    forbidden = api.post("/api/categories", json={"name": "x"}, headers=shopper.auth)
    assert forbidden.json() == {"detail": "admin role required"}
    assert written(marker) == before
    assert categories(api, marker) == [created]


def test_unknown_categories_are_not_found(api: httpx.Client, catalog: Admin) -> None:
    unknown = f"/api/categories/{uuid.uuid4()}"
    patched = api.patch(unknown, json={"name": "x"}, headers=catalog.auth)
    assert (patched.status_code, patched.json()) == (404, NOT_FOUND_CATEGORY)
    deleted = catalog.delete(unknown)
    assert (deleted.status_code, deleted.json()) == (404, NOT_FOUND_CATEGORY)
    assert catalog.delete("/api/categories/not-a-uuid").status_code == 422


# -- products in categories --------------------------------------------------------------------


def test_products_in_a_category_and_the_filter(
    api: httpx.Client, catalog: Admin, marker: str
) -> None:
    teas = catalog.category(f"Chás {marker}")
    coffees = catalog.category(f"Cafés {marker}")
    green = catalog.product(marker, category_id=teas["category_id"])
    black = catalog.product(marker, category_id=teas["category_id"])
    loose = catalog.product(marker)
    assert green["category_id"] == teas["category_id"] and loose["category_id"] is None
    assert api.get(f"/api/products/{green['product_id']}").json() == green
    assert events_of(green["product_id"])[0][1]["category_id"] == teas["category_id"]

    in_teas = products(api, category=teas["slug"])
    assert (in_teas["total"], in_teas["items"]) == (2, [green, black])
    assert products(api, category=coffees["slug"])["total"] == 0
    assert products(api, category=f"nenhuma-{marker}") == {
        "items": [],
        "page": 1,
        "size": 100,
        "total": 0,
    }
    assert products(api, category="Not A Slug!")["total"] == 0
    assert products(api, category=teas["slug"], q=green["sku"])["items"] == [green]

    moved = api.patch(
        f"/api/products/{black['product_id']}",
        json={"category_id": coffees["category_id"]},
        headers=catalog.auth,
    )
    assert moved.status_code == 200 and moved.json() == {
        **black,
        "category_id": coffees["category_id"],
    }
    assert events_of(black["product_id"])[-1][1]["category_id"] == coffees["category_id"]
    taken_out = api.patch(
        f"/api/products/{green['product_id']}", json={"category_id": None}, headers=catalog.auth
    )
    assert taken_out.status_code == 200 and taken_out.json()["category_id"] is None
    assert products(api, category=teas["slug"])["items"] == []
    assert products(api, category=coffees["slug"])["items"] == [moved.json()]
    assert catalog.delete(f"/api/categories/{teas['category_id']}").status_code == 204


def test_a_product_in_an_unknown_category_is_refused_writing_nothing(
    api: httpx.Client, catalog: Admin, marker: str
) -> None:
    ghost = str(uuid.uuid4())
    before = written(marker)
    refused = catalog.product(marker, expect=422, category_id=ghost)
    assert refused == {"detail": f"unknown category: {ghost}"}
    malformed = catalog.product(marker, expect=422, category_id="tea")
    assert ["body", "category_id"] in [error["loc"] for error in malformed["detail"]]
    assert written(marker) == before

    product = catalog.product(marker)
    after_create = written(marker)
    path = f"/api/products/{product['product_id']}"
    patched = api.patch(path, json={"category_id": ghost, "name": "x"}, headers=catalog.auth)
    assert (patched.status_code, patched.json()) == (422, refused)
    assert api.get(path).json() == product
    assert written(marker) == after_create


def test_a_category_with_products_cannot_be_deleted_not_even_archived_ones(
    api: httpx.Client, catalog: Admin, marker: str
) -> None:
    category = catalog.category(f"Lanches {marker}")
    path = f"/api/categories/{category['category_id']}"
    product = catalog.product(marker, category_id=category["category_id"])
    before = written(marker)

    refused = catalog.delete(path)
    assert refused.status_code == 409, refused.text
    assert refused.json() == {
        "detail": f"category 'lanches-{marker}' is not empty: 1 product(s) in it, archived ones"
        " included"
    }
    assert written(marker) == before

    # An archived product keeps its category (the orders that hold it still name it).
    assert catalog.delete(f"/api/products/{product['product_id']}").status_code == 204
    assert catalog.delete(path).status_code == 409
    assert categories(api, marker) == [category]


# -- archive -----------------------------------------------------------------------------------


def test_an_archived_product_leaves_the_catalog(
    api: httpx.Client, catalog: Admin, shopper: User, marker: str
) -> None:
    category = catalog.category(f"Tortas {marker}")
    product = catalog.product(marker, category_id=category["category_id"])
    path = f"/api/products/{product['product_id']}"
    assert products(api, q=product["sku"])["items"] == [product]
    for headers, status in (({}, 401), (shopper.auth, 403)):
        assert api.delete(path, headers=headers).status_code == status
    assert api.get(path).json() == product

    archived = catalog.delete(path)

    assert archived.status_code == 204 and archived.content == b""
    assert (api.get(path).status_code, api.get(path).json()) == (404, NOT_FOUND_PRODUCT)
    assert products(api, q=product["sku"])["total"] == 0
    assert products(api, category=category["slug"])["total"] == 0
    patched = api.patch(path, json={"name": "back"}, headers=catalog.auth)
    assert (patched.status_code, patched.json()) == (404, NOT_FOUND_PRODUCT)
    assert catalog.delete(path).status_code == 204  # again: nothing more happens
    kinds = [kind for kind, _ in events_of(product["product_id"])]
    assert kinds == ["product.created", "product.archived"]
    [(archived_at,)] = query(
        "SELECT archived_at FROM products WHERE product_id = %s", product["product_id"]
    )
    assert archived_at is not None

    unknown = catalog.delete(f"/api/products/{uuid.uuid4()}")
    assert (unknown.status_code, unknown.json()) == (404, NOT_FOUND_PRODUCT)
    assert catalog.delete("/api/products/not-a-uuid").status_code == 422


def test_an_archived_product_is_never_sold_and_old_orders_keep_it(
    api: httpx.Client, admin: User, customer: User
) -> None:
    product_id = create_product(api, admin, stock=20, price="4.00")
    placed = place_order(api, customer, [(product_id, 2)])
    assert placed.status_code == 202, placed.text
    # Sold, not just confirmed: product_service has turned the reservation into a sale.
    old = wait_order(
        api,
        customer,
        placed.json()["order_id"],
        until=lambda o: o["status"] == "CONFIRMED" and o["inventory"]["status"] == "COMMITTED",
    )

    assert api.delete(f"/api/products/{product_id}", headers=admin.auth).status_code == 204

    # The order service refuses it from its read model (422) once product.archived reached it;
    # an order it accepted before that is refused by the stock reservation, naming the product.
    late = place_order(api, customer, [(product_id, 1)])
    if late.status_code == 202:
        refused = wait_order(
            api, customer, late.json()["order_id"], until=lambda o: o["status"] == "REJECTED"
        )
        assert f"archived product: {product_id}" in (refused["failure_reason"] or ""), refused
    else:
        assert late.status_code == 422, late.text
    [(sold, available)] = query(
        "SELECT stock_sold, stock_available FROM products WHERE product_id = %s", product_id
    )
    assert (sold, available) == (2, 18)
    kept = api.get(f"/api/orders/{old['order_id']}", headers=customer.auth)
    assert kept.status_code == 200 and kept.json()["status"] == "CONFIRMED"
    assert [item["product_id"] for item in kept.json()["items"]] == [product_id]
