"""Helpers for the pix tests: orders paid by QR code, the payment provider's own API and
database (what it charged, refunded, and which webhooks it sent), payment_service's tables, and
webhooks signed as the provider signs them."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import httpx
import orjson
import psycopg2

from contracts.webhooks import SIGNATURE_HEADER, sign
from devstack import layout
from tests.e2e.conftest import User
from tests.e2e.saga_support import create_product, payments, wait_order
from tests.support import wait_for

PROVIDER = f"http://127.0.0.1:{layout.PAYMENT_PROVIDER_PORT}"
API_KEY = os.environ.get("PROVIDER_API_KEY", "local-provider-api-key")
SECRET = os.environ.get("PROVIDER_WEBHOOK_SECRET", "local-provider-webhook-secret")
MERCHANT = {"Authorization": f"Bearer {API_KEY}"}
WEBHOOKS = "/api/payments/webhooks/provider"


def brl_product(api: httpx.Client, admin: User, *, stock: int = 5, price: str = "25.90") -> str:
    """A product sold in reais (pix moves BRL only)."""
    return create_product(api, admin, stock=stock, price=price, currency="BRL")


def place_pix_order(api: httpx.Client, customer: User, product: str, quantity: int = 1) -> str:
    """POST /api/orders paid by pix; its id."""
    response = api.post(
        "/api/orders",
        headers=customer.auth,
        json={"items": [{"product_id": product, "quantity": quantity}], "payment_method": "pix"},
    )
    assert response.status_code == 202, response.text
    return str(response.json()["order_id"])


def payment_of(api: httpx.Client, customer: User, order_id: str) -> dict[str, Any] | None:
    """The order's one payment as GET /api/payments shows it (None before there is one)."""
    rows = payments(api, customer, order_id)
    assert len(rows) <= 1, rows
    return rows[0] if rows else None


def wait_payment(
    api: httpx.Client, customer: User, order_id: str, status: str, timeout: float = 60
) -> dict[str, Any]:
    """Wait until the order's payment has ``status``."""
    found: dict[str, Any] = wait_for(
        lambda: (p := payment_of(api, customer, order_id)) and p["status"] == status and p,
        timeout=timeout,
        interval=0.1,
        what=f"payment of {order_id} {status}",
    )
    return found


def awaiting_order(api: httpx.Client, admin: User, customer: User) -> tuple[str, str, str]:
    """A pix order whose QR code waits to be paid: (product, order_id, charge_id)."""
    product = brl_product(api, admin)
    order_id = place_pix_order(api, customer, product)
    payment = wait_payment(api, customer, order_id, "AWAITING_PAYMENT")
    return product, order_id, str(payment["charge_id"])


def wait_status(api: httpx.Client, customer: User, order_id: str, status: str) -> dict[str, Any]:
    """Wait until the order reaches ``status``."""
    return wait_order(api, customer, order_id, until=lambda o: o["status"] == status, timeout=120)


# -- the provider ------------------------------------------------------------------------------


def pay(charge_id: str) -> httpx.Response:
    """What the customer's bank app does."""
    return httpx.post(f"{PROVIDER}/charges/{charge_id}/pay", timeout=10)


def charges_of(order_id: str) -> list[dict[str, Any]]:
    """Every charge the provider made for the order."""
    response = httpx.get(
        f"{PROVIDER}/charges", params={"reference": order_id}, headers=MERCHANT, timeout=10
    )
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


def provider_rows(query: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of the provider's own database."""
    return _rows(layout.PAYMENT_PROVIDER_DATABASE, query, args)


def payment_rows(query: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of payment_service's database."""
    return _rows("payment_service", query, args)


def _rows(database: str, query: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    with psycopg2.connect(layout.libpq_url(database)) as conn, conn.cursor() as cur:
        cur.execute(query, args)
        rows = cur.fetchall() if cur.description else []
    conn.close()
    return [tuple(row) for row in rows]


def outbox_events(order_id: str) -> list[str]:
    """The event types payment_service wrote for an order, in order."""
    return [
        row[0]
        for row in payment_rows(
            "SELECT event_type FROM outbox WHERE aggregate_id = %s ORDER BY id", order_id
        )
    ]


def payment_state(order_id: str) -> tuple[Any, ...]:
    """Everything that says where an order's payment is: the row, its calls, its webhooks,
    its events. Equal before and after a request means the request changed nothing."""
    return (
        payment_rows(
            "SELECT status, reason, charge_id::text, updated_at FROM payments WHERE order_id = %s",
            order_id,
        ),
        payment_rows(
            "SELECT kind, status, attempts FROM provider_calls WHERE order_id = %s ORDER BY kind",
            order_id,
        ),
        payment_rows(
            "SELECT webhook_id, outcome FROM provider_webhooks WHERE order_id = %s"
            " ORDER BY webhook_id",
            order_id,
        ),
        outbox_events(order_id),
    )


# -- webhooks as the provider sends them ---------------------------------------------------------


def webhook_body(charge_id: str, order_id: str, kind: str = "charge.paid", **fields: Any) -> bytes:
    """A webhook body (contracts.webhooks.ChargeWebhook) with a fresh id."""
    body = {
        "id": str(uuid.uuid4()),
        "type": kind,
        "charge_id": charge_id,
        "amount": "25.90",
        "currency": "BRL",
        "reference": order_id,
        "occurred_at": "2026-01-01T00:00:00Z",
        **fields,
    }
    return orjson.dumps(body)


def post_webhook(
    api: httpx.Client, body: bytes, signature: str | None, **headers: str
) -> httpx.Response:
    """POST the raw body to the public webhook route, through the gateway."""
    sent = {"Content-Type": "application/json", **headers}
    if signature is not None:
        sent[SIGNATURE_HEADER] = signature
    return api.post(WEBHOOKS, content=body, headers=sent)


def signed(body: bytes, *, at: float | None = None, secret: str = SECRET) -> str:
    """The provider's signature header of ``body`` sent at ``at`` (now by default)."""
    return sign(secret, body, int(at if at is not None else time.time()))
