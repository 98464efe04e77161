"""``make demo``, the pix part: an order paid by QR code through the payment provider.

The customer orders with ``payment_method: "pix"``; payment_service creates the charge at the
provider and shows its QR code (``GET /api/payments``), printed here as the pix "copia e cola"
text and as a QR code in the terminal; the customer's bank app pays it (here: the provider's own
``POST /charges/{charge_id}/pay``); the provider's signed webhook reaches payment_service, and
the order is confirmed; the notifications follow.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import segno

from devstack import layout

PROVIDER = os.environ.get(
    "PAYMENT_PROVIDER_URL", f"http://127.0.0.1:{layout.PAYMENT_PROVIDER_PORT}"
)

Check = Callable[..., Any]
Say = Callable[..., None]


def poll(read: Callable[[], Any], *, seconds: float) -> Any:
    """``read()`` until it returns something truthy, ``seconds`` at most (then its last)."""
    deadline = time.monotonic() + seconds
    while True:
        found = read()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def pix(
    api: httpx.Client,
    admin: dict[str, str],
    customer: dict[str, str],
    *,
    check: Check,
    say: Say,
) -> None:
    """Order, show the QR code, pay it at the provider, see the order confirmed."""
    product = check(
        api.post(
            "/api/products",
            headers=admin,
            json={
                "sku": f"CAFE-{uuid.uuid4().hex[:6].upper()}",
                "name": "Coffee beans 1 kg",
                "price": "89.90",
                "currency": "BRL",
                "stock": 20,
                "description": "demo coffee, paid by pix",
            },
        ),
        201,
    )
    say("admin creates Coffee beans 1 kg", f"89.90 BRL, id {product['product_id']}")
    placed = check(
        api.post(
            "/api/orders",
            headers=customer,
            json={
                "items": [{"product_id": product["product_id"], "quantity": 1}],
                "payment_method": "pix",
            },
        ),
        202,
    )
    order_id = placed["order_id"]
    say("order paid by pix", f"{order_id} -> {placed['status']}")

    def awaiting() -> dict[str, Any] | None:
        mine = api.get("/api/payments", headers=customer, params={"order_id": order_id})
        found = check(mine, 200)
        return next((p for p in found if p["status"] == "AWAITING_PAYMENT"), None)

    payment = poll(awaiting, seconds=30)
    if payment is None:
        sys.exit("   the pix charge did not appear in 30 s: is payment_provider running?")
    say(
        "payment_service created the charge at the provider",
        f"charge {payment['charge_id']}, {payment['amount']} {payment['currency']},"
        f" pay by {payment['expires_at']}",
    )
    say("pix copia e cola (paste it into a bank app)", payment["qr_code"])
    say("or scan the QR code")
    segno.make(payment["qr_code"], error="m", micro=False).terminal(compact=True)
    sys.stdout.flush()

    paid = httpx.post(f"{PROVIDER}/charges/{payment['charge_id']}/pay", timeout=10)
    if paid.status_code != 200:
        sys.exit(f"   the provider refused the payment: {paid.status_code} {paid.text}")
    say("the customer's bank pays it", f"charge {paid.json()['status']} at the provider")

    def confirmed() -> dict[str, Any] | None:
        body: dict[str, Any] = check(api.get(f"/api/orders/{order_id}", headers=customer), 200)
        return body if body["status"] == "CONFIRMED" else None

    order = poll(confirmed, seconds=30)
    if order is None:
        sys.exit("   the order was not confirmed in 30 s")
    say(
        "the provider's signed webhook reached payment_service: the order is confirmed",
        f"status {order['status']}, payment {order['payment']['status']}",
    )
    for step in check(api.get(f"/api/orders/{order_id}/timeline", headers=customer), 200):
        print(
            f"     {step['at'][11:23]}  {step['service']:<16} {step['event_type']:<26}"
            f" {step['step']}"
        )
    # Sent by notification_service's senders, moments after order.confirmed.
    notes = poll(
        lambda: [
            n
            for n in check(api.get("/api/notifications", headers=customer), 200)
            if order_id in n["subject"] and n["status"] == "SENT"
        ],
        seconds=10,
    )
    say(
        "the notifications follow",
        "\n   ".join(
            f"{n['kind']:<16} {n.get('channel', 'email'):<6} {n['status']:<8} {n['subject']}"
            for n in notes
        )
        or "(not sent yet)",
    )
