"""Helpers for the saga tests: products, orders, stock bookkeeping, stopping a service."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import httpx
import psycopg2

from devstack import cli, layout, supervisor
from devstack.cli import wait_ready
from tests.e2e.conftest import User
from tests.support import wait_for

FINAL = {"CONFIRMED", "REJECTED", "CANCELLED"}


def create_product(
    api: httpx.Client, admin: User, *, stock: int, price: str = "10.00", currency: str = "EUR"
) -> str:
    """A new product (admin), returns its id."""
    sku = f"SKU-{uuid.uuid4().hex[:10].upper()}"
    response = api.post(
        "/api/products",
        headers=admin.auth,
        json={
            "sku": sku,
            "name": f"Widget {sku}",
            "description": "test",
            "price": price,
            "currency": currency,
            "stock": stock,
        },
    )
    assert response.status_code == 201, response.text
    product_id = str(response.json()["product_id"])
    # Orders validate against order_service's read model of the catalog, fed by product.created.
    wait_for(lambda: _order_side_knows(product_id), what="product in the order read model")
    return product_id


def _order_side_knows(product_id: str) -> bool:
    with psycopg2.connect(layout.libpq_url("order_service")) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 FROM products WHERE product_id = %s", (product_id,))
        return cur.fetchone() is not None


def place_order(
    api: httpx.Client, user: User, items: list[tuple[str, int]], **headers: str
) -> httpx.Response:
    """POST /api/orders."""
    return api.post(
        "/api/orders",
        headers={**user.auth, **headers},
        json={"items": [{"product_id": pid, "quantity": qty} for pid, qty in items]},
    )


def order(api: httpx.Client, user: User, order_id: str) -> dict[str, Any]:
    """GET /api/orders/{id}, asserting 200."""
    response = api.get(f"/api/orders/{order_id}", headers=user.auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_order(
    api: httpx.Client, user: User, order_id: str, *, until: Any, timeout: float = 60
) -> dict[str, Any]:
    """Poll the order until ``until(order)`` holds."""
    return wait_for(
        lambda: (o := order(api, user, order_id)) and until(o) and o,
        timeout=timeout,
        interval=0.1,
        what=f"order {order_id}",
    )


def stock_row(product_id: str) -> dict[str, int]:
    """available / reserved / sold / initial bookkeeping of one product, from its database."""
    with psycopg2.connect(layout.libpq_url("product_service")) as conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM products WHERE product_id = %s", (product_id,))
        row = cur.fetchone()
        assert row is not None
        names = [column.name for column in cur.description]
    return dict(zip(names, row, strict=True))


def stock(api: httpx.Client, product_id: str) -> int:
    """stock_available as the public API shows it."""
    response = api.get(f"/api/products/{product_id}")
    assert response.status_code == 200, response.text
    return int(response.json()["stock_available"])


def payments(api: httpx.Client, user: User, order_id: str) -> list[dict[str, Any]]:
    """The caller's payments for one order."""
    response = api.get("/api/payments", headers=user.auth, params={"order_id": order_id})
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


def net_charge(rows: list[dict[str, Any]]) -> Decimal:
    """What the customer is out of pocket: authorized and not refunded."""
    return sum((Decimal(p["amount"]) for p in rows if p["status"] == "AUTHORIZED"), Decimal("0.00"))


@contextmanager
def stopped(program: str) -> Iterator[None]:
    """Stop one supervised process for the block; start it again and wait until it is routable."""
    supervisor.rpc().stopProcess(program, True)
    try:
        yield
    finally:
        supervisor.start(program)
        wait_ready(program)
        wait_routable(program)


def wait_routable(program: str) -> None:
    """Wait until the gateway routes to a service again after its restart.

    Ready is not routable: the instance registers with Eureka, and the gateway's copy of the
    registry learns of it at its next refresh; a request in between is answered 503.
    """
    (service,) = [s for s in layout.SERVICES if s.package == program]
    wait_for(
        lambda: cli.gateway_routes([service]),
        timeout=60,
        what=f"gateway routes to {cli.eureka_app(service)} again",
    )


def service_metric(port: int, name: str, **labels: str) -> float:
    """One sample of a service's /metrics (0 when absent)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def port_of(package: str) -> int:
    """A service's HTTP port."""
    return next(s.port for s in layout.SERVICES if s.package == package)
