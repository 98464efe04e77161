"""The products API of a real product_service process on a throw-away database, with tokens from
the running auth service: admin writes, public reads, search and pages, bad input refused with
nothing written, and product.created / product.updated in the outbox."""

from __future__ import annotations

import signal
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg2
import pytest

from devstack import layout
from tests.support import ManagedProcess, free_port, scratch_database, sqlalchemy_url, wait_for

pytestmark = pytest.mark.integration

AUTH = "http://127.0.0.1:8101"
JWKS_URL = f"{AUTH}/api/auth/.well-known/jwks.json"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "Admin-password-1"


@dataclass
class ProductService:
    """The running process, a client for it, and its database."""

    client: httpx.Client
    database_url: str

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg2.connect(self.database_url) as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())

    def counts(self) -> tuple[int, int, int]:
        """Products, stock adjustments and outbox rows: what a refused request must not add."""
        [row] = self.query(
            "SELECT (SELECT count(*) FROM products), (SELECT count(*) FROM stock_adjustments),"
            " (SELECT count(*) FROM outbox)"
        )
        return int(row[0]), int(row[1]), int(row[2])

    def outbox(self, product_id: str) -> list[tuple[Any, ...]]:
        return self.query(
            "SELECT aggregate_type, aggregate_id, event_type, payload, headers FROM outbox"
            " WHERE aggregate_id = %s ORDER BY id",
            product_id,
        )


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProductService]:
    """product_service as `make up` runs it, on a scratch database, without Eureka or consumers
    (it must not join the real ``product-service`` group)."""
    try:
        httpx.get(JWKS_URL, timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        pytest.fail(f"auth service not reachable at {AUTH} ({exc}): run the suite with `make test`")
    with scratch_database("product_api", migrations="product_service") as url:
        port = free_port()
        log: Path = tmp_path_factory.mktemp("product_api") / "product_service.log"
        process = ManagedProcess(
            [sys.executable, "-m", "product_service"],
            {
                "PRODUCT_PORT": str(port),
                "PRODUCT_DATABASE_URL": sqlalchemy_url(url),
                "JWKS_URL": JWKS_URL,
                "PRODUCT_CONSUMERS_ENABLED": "false",
                "EUREKA_ENABLED": "false",
                "KAFKA_BOOTSTRAP_SERVERS": layout.KAFKA_BOOTSTRAP,
            },
            log,
            http_port=port,
        ).start()
        try:
            wait_for(
                lambda: (process.health() or {}).get("status") == "ok",
                timeout=60,
                what=f"product_service health (log: {log})",
            )
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=15) as client:
                yield ProductService(client, url)
        finally:
            # uvicorn re-raises SIGTERM once its graceful shutdown is done.
            assert process.stop() in (0, -signal.SIGTERM), process.output()[-3000:]
            assert "Application shutdown complete" in process.output()


def bearer(email: str, password: str) -> dict[str, str]:
    response = httpx.post(
        f"{AUTH}/api/auth/login", json={"email": email, "password": password}, timeout=15
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture(scope="module")
def admin() -> dict[str, str]:
    return bearer(ADMIN_EMAIL, ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def customer() -> dict[str, str]:
    email = f"product-api-{uuid.uuid4().hex[:12]}@example.com"
    password = "customer-pass-42"
    response = httpx.post(
        f"{AUTH}/api/auth/register",
        json={"email": email, "password": password, "full_name": "Product Tester"},
        timeout=15,
    )
    assert response.status_code == 201, response.text
    return bearer(email, password)


def new_product(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sku": f"SKU-{uuid.uuid4().hex[:12]}",
        "name": "Espresso cup",
        "description": "Porcelain, 80 ml",
        "price": "19.9",
        "currency": "EUR",
        "stock": 25,
    }
    body.update(overrides)
    return body


def create(service: ProductService, admin: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = service.client.post("/api/products", json=new_product(**overrides), headers=admin)
    assert response.status_code == 201, response.text
    product: dict[str, Any] = response.json()
    return product


# -- writes --------------------------------------------------------------------------------


def test_admin_creates_a_product_and_its_event(
    service: ProductService, admin: dict[str, str]
) -> None:
    body = new_product()
    response = service.client.post(
        "/api/products", json=body, headers={**admin, "X-Correlation-ID": "corr-create-1"}
    )

    assert response.status_code == 201, response.text
    product = response.json()
    product_id = product["product_id"]
    assert str(uuid.UUID(product_id)) == product_id
    assert product == {
        "product_id": product_id,
        "sku": body["sku"],
        "name": "Espresso cup",
        "description": "Porcelain, 80 ml",
        "price": "19.90",
        "currency": "EUR",
        "stock_available": 25,
        "category_id": None,
    }
    assert service.client.get(f"/api/products/{product_id}").json() == product
    [(aggregate_type, aggregate_id, event_type, payload, headers)] = service.outbox(product_id)
    assert (aggregate_type, aggregate_id, event_type) == ("product", product_id, "product.created")
    assert payload == {
        "product_id": product_id,
        "sku": body["sku"],
        "name": "Espresso cup",
        "price": "19.90",
        "currency": "EUR",
        "category_id": None,
    }
    assert headers["correlation_id"] == "corr-create-1"
    [(initial, available)] = service.query(
        "SELECT stock_initial, stock_available FROM products WHERE product_id = %s", product_id
    )
    assert (initial, available) == (25, 25)


def test_description_is_optional(service: ProductService, admin: dict[str, str]) -> None:
    body = new_product(price="7")
    del body["description"]
    response = service.client.post("/api/products", json=body, headers=admin)
    assert response.status_code == 201, response.text
    assert response.json()["description"] is None
    assert response.json()["price"] == "7.00"


def test_duplicate_sku_conflicts_and_writes_nothing(
    service: ProductService, admin: dict[str, str]
) -> None:
    product = create(service, admin)
    before = service.counts()

    for sku in (product["sku"], product["sku"].lower()):
        again = service.client.post("/api/products", json=new_product(sku=sku), headers=admin)
        assert again.status_code == 409, again.text
        assert sku in again.json()["detail"]

    assert service.counts() == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price": "0"}, "price"),
        ({"price": "0.00"}, "price"),
        ({"price": "-1.00"}, "price"),
        ({"price": "1.999"}, "price"),
        ({"price": "abc"}, "price"),
        ({"price": "NaN"}, "price"),
        ({"price": "1e3"}, "price"),
        ({"price": "12345678901.00"}, "price"),
        ({"price": True}, "price"),
        ({"price": None}, "price"),
        ({"currency": "eur"}, "currency"),
        ({"currency": "EU"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "ZZZ"}, "currency"),
        ({"currency": 978}, "currency"),
        ({"stock": -1}, "stock"),
        ({"stock": 1.5}, "stock"),
        ({"stock": "5"}, "stock"),
        ({"stock": True}, "stock"),
        ({"stock": 10**12}, "stock"),
        ({"sku": ""}, "sku"),
        ({"sku": "has space"}, "sku"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_fields_are_refused_with_the_reason(
    service: ProductService, admin: dict[str, str], change: dict[str, Any], field: str
) -> None:
    before = service.counts()

    response = service.client.post("/api/products", json=new_product(**change), headers=admin)

    assert response.status_code == 422, response.text
    assert field in {str(part) for error in response.json()["detail"] for part in error["loc"]}
    assert service.counts() == before


@pytest.mark.parametrize("missing", ["sku", "name", "price", "currency", "stock"])
def test_missing_fields_are_refused(
    service: ProductService, admin: dict[str, str], missing: str
) -> None:
    body = new_product()
    del body[missing]
    before = service.counts()

    response = service.client.post("/api/products", json=body, headers=admin)

    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", missing] and error["type"] == "missing"
    assert service.counts() == before


@pytest.mark.parametrize("content", [b"{not json", b"", b"[1, 2]", b'"a string"'])
def test_a_body_that_is_not_a_json_object_is_refused(
    service: ProductService, admin: dict[str, str], content: bytes
) -> None:
    before = service.counts()

    response = service.client.post(
        "/api/products",
        content=content,
        headers={**admin, "Content-Type": "application/json"},
    )

    assert response.status_code == 422, response.text
    assert response.json()["detail"]
    assert service.counts() == before


def test_writes_need_an_admin_token(
    service: ProductService, admin: dict[str, str], customer: dict[str, str]
) -> None:
    product = create(service, admin)
    path = f"/api/products/{product['product_id']}"
    before = service.counts()

    as_customer = service.client.post("/api/products", json=new_product(), headers=customer)
    assert as_customer.status_code == 403, as_customer.text
    assert as_customer.json() == {"detail": "admin role required"}
    assert service.client.patch(path, json={"name": "x"}, headers=customer).status_code == 403
    anonymous = service.client.post("/api/products", json=new_product())
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert service.client.patch(path, json={"name": "x"}).status_code == 401
    forged = {"Authorization": "Bearer not.a.token"}
    assert (
        service.client.post("/api/products", json=new_product(), headers=forged).status_code == 401
    )

    assert service.counts() == before
    assert service.client.get(path).json() == product


# -- updates ---------------------------------------------------------------------------------


def test_admin_updates_a_product(service: ProductService, admin: dict[str, str]) -> None:
    product = create(service, admin, stock=10)
    product_id = product["product_id"]
    path = f"/api/products/{product_id}"

    response = service.client.patch(
        path,
        json={"name": "Espresso cup, blue", "price": "21", "description": None, "stock": 4},
        headers={**admin, "X-Correlation-ID": "corr-patch-1"},
    )

    assert response.status_code == 200, response.text
    updated = {
        **product,
        "name": "Espresso cup, blue",
        "price": "21.00",
        "description": None,
        "stock_available": 4,
    }
    assert response.json() == updated
    assert service.client.get(path).json() == updated
    created, changed = service.outbox(product_id)
    assert created[2] == "product.created"
    assert changed[:3] == ("product", product_id, "product.updated")
    assert changed[3] == {
        "product_id": product_id,
        "sku": product["sku"],
        "name": "Espresso cup, blue",
        "price": "21.00",
        "currency": "EUR",
        "category_id": None,
    }
    assert changed[4]["correlation_id"] == "corr-patch-1"
    # stock sets the available quantity; the difference is an adjustment, and stock is conserved.
    [row] = service.query(
        "SELECT stock_initial, stock_adjusted, stock_available, stock_reserved, stock_sold"
        " FROM products WHERE product_id = %s",
        product_id,
    )
    assert row == (10, -6, 4, 0, 0)
    assert service.query(
        "SELECT delta, stock_available FROM stock_adjustments WHERE product_id = %s", product_id
    ) == [(-6, 4)]


def test_patch_changes_only_the_fields_given(
    service: ProductService, admin: dict[str, str]
) -> None:
    product = create(service, admin)
    path = f"/api/products/{product['product_id']}"

    response = service.client.patch(path, json={"stock": 0}, headers=admin)

    assert response.status_code == 200, response.text
    assert response.json() == {**product, "stock_available": 0}
    empty = service.client.patch(path, json={}, headers=admin)
    assert empty.status_code == 200 and empty.json() == {**product, "stock_available": 0}
    # Two writes, two events; the empty PATCH wrote nothing.
    assert [row[2] for row in service.outbox(product["product_id"])] == [
        "product.created",
        "product.updated",
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": None}, "name"),
        ({"price": None}, "price"),
        ({"stock": None}, "stock"),
        ({"price": "0"}, "price"),
        ({"price": "9.999"}, "price"),
        ({"stock": -5}, "stock"),
        ({"name": ""}, "name"),
        ({"sku": "NEW-SKU"}, "sku"),
        ({"currency": "USD"}, "currency"),
    ],
)
def test_bad_patches_are_refused_writing_nothing(
    service: ProductService, admin: dict[str, str], body: dict[str, Any], field: str
) -> None:
    product = create(service, admin)
    path = f"/api/products/{product['product_id']}"
    before = service.counts()

    response = service.client.patch(path, json=body, headers=admin)

    assert response.status_code == 422, response.text
    assert field in str(response.json()["detail"])
    assert service.counts() == before
    assert service.client.get(path).json() == product


def test_patch_of_an_unknown_product_is_404(service: ProductService, admin: dict[str, str]) -> None:
    before = service.counts()
    response = service.client.patch(
        f"/api/products/{uuid.uuid4()}", json={"name": "ghost"}, headers=admin
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "product not found"}
    assert (
        service.client.patch(
            "/api/products/not-a-uuid", json={"name": "x"}, headers=admin
        ).status_code
        == 422
    )
    assert service.counts() == before


# -- public reads ----------------------------------------------------------------------------


def test_reads_are_public(service: ProductService, admin: dict[str, str]) -> None:
    product = create(service, admin)

    assert service.client.get(f"/api/products/{product['product_id']}").json() == product
    listed = service.client.get("/api/products")
    assert listed.status_code == 200
    assert set(listed.json()) == {"items", "page", "size", "total"}
    unknown = service.client.get(f"/api/products/{uuid.uuid4()}")
    assert unknown.status_code == 404 and unknown.json() == {"detail": "product not found"}
    assert service.client.get("/api/products/not-a-uuid").status_code == 422


def test_search_by_name_or_sku_with_pages(service: ProductService, admin: dict[str, str]) -> None:
    marker = uuid.uuid4().hex[:10]
    made = [
        create(
            service, admin, name=f"Mug {marker.upper()} {i}", sku=f"MUG-{i}-{uuid.uuid4().hex[:8]}"
        )
        for i in range(5)
    ]
    by_sku = create(service, admin, name="Saucer", sku=f"SAU-{marker}")

    def search(**params: Any) -> dict[str, Any]:
        response = service.client.get("/api/products", params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    everything = search(q=marker, size=100)
    assert everything["total"] == 6
    assert {p["product_id"] for p in everything["items"]} == {
        p["product_id"] for p in [*made, by_sku]
    }
    pages = [search(q=marker.upper(), page=page, size=4) for page in (1, 2, 3)]
    assert [len(p["items"]) for p in pages] == [4, 2, 0]
    assert all(p["total"] == 6 and p["size"] == 4 for p in pages)
    assert [p["page"] for p in pages] == [1, 2, 3]
    ids = [item["product_id"] for p in pages for item in p["items"]]
    assert len(set(ids)) == 6
    assert search(q=f"sau-{marker}")["items"] == [by_sku]
    assert search(q=f"  {marker} 3  ")["items"] == [made[3]]
    # LIKE wildcards in the query are plain characters.
    assert search(q=f"{marker}%")["total"] == 0
    assert search(q=f"Mug_{marker}")["total"] == 0
    assert search(q=uuid.uuid4().hex)["total"] == 0

    for bad in ({"page": 0}, {"size": 0}, {"size": 101}, {"page": "x"}, {"q": "x" * 101}):
        assert service.client.get("/api/products", params=bad).status_code == 422, bad
