"""Pix payments on the running stack: an order paid by QR code through the payment provider
(its own process and database), its signed webhooks, and every way that can go wrong: bad,
missing or stale signatures, replays, the provider away while the charge is created, webhooks
that fail until payment_service is back, expiry, a payment that arrives after the order was
cancelled, and payment_service killed on either side of the provider's answer."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.e2e.conftest import User
from tests.e2e.pix_support import (
    awaiting_order,
    brl_product,
    charges_of,
    outbox_events,
    pay,
    payment_of,
    payment_rows,
    payment_state,
    place_pix_order,
    post_webhook,
    provider_rows,
    signed,
    wait_payment,
    wait_status,
    webhook_body,
)
from tests.e2e.saga_support import order, stock
from tests.support import wait_for

pytestmark = pytest.mark.e2e


def test_an_order_paid_by_qr_code_is_confirmed(
    api: httpx.Client, admin: User, customer: User
) -> None:
    product = brl_product(api, admin, stock=3)
    order_id = place_pix_order(api, customer, product, quantity=2)
    payment = wait_payment(api, customer, order_id, "AWAITING_PAYMENT")
    assert payment["method"] == "pix"
    assert payment["amount"] == "51.80"
    assert payment["currency"] == "BRL"
    # The copia e cola text is an EMV BR Code of the merchant's pix key, for this amount.
    assert payment["qr_code"].startswith("000201")
    assert "br.gov.bcb.pix" in payment["qr_code"].lower()
    assert "540551.80" in payment["qr_code"]
    assert payment["qr_code_png"].startswith("data:image/png;base64,")
    assert payment["expires_at"]
    placed = order(api, customer, order_id)
    assert placed["status"] == "STOCK_RESERVED"
    assert placed["payment"]["status"] == "AWAITING_PAYMENT"
    assert placed["payment_method"] == "pix"
    (charge,) = charges_of(order_id)
    assert charge["charge_id"] == payment["charge_id"]
    assert charge["status"] == "pending"
    assert charge["qr_code"] == payment["qr_code"]

    paid = pay(payment["charge_id"])
    assert paid.status_code == 200, paid.text
    confirmed = wait_status(api, customer, order_id, "CONFIRMED")
    assert confirmed["payment"]["status"] == "AUTHORIZED"
    authorized = payment_of(api, customer, order_id)
    assert authorized is not None and authorized["status"] == "AUTHORIZED"
    assert [c["status"] for c in charges_of(order_id)] == ["paid"]
    assert outbox_events(order_id) == ["payment.awaiting", "payment.authorized"]
    assert payment_rows("SELECT outcome FROM provider_webhooks WHERE order_id = %s", order_id) == [
        ("AUTHORIZED",)
    ]
    timeline = api.get(f"/api/orders/{order_id}/timeline", headers=customer.auth).json()
    steps = [step["event_type"] for step in timeline]
    assert steps.index("payment.awaiting") < steps.index("payment.authorized")
    wait_for(lambda: stock(api, product) == 1, what="two units sold")


def test_a_bad_missing_or_stale_signature_is_401_and_changes_nothing(
    api: httpx.Client, admin: User, customer: User
) -> None:
    _, order_id, charge_id = awaiting_order(api, admin, customer)
    before = payment_state(order_id)
    body = webhook_body(charge_id, order_id)
    now = time.time()
    attempts = {
        "missing": None,
        "malformed": "v1=abc",
        "wrong secret": signed(body, secret="not-the-secret"),
        "another body": signed(webhook_body(charge_id, order_id)),
        "stale": signed(body, at=now - 301),
        "from the future": signed(body, at=now + 301),
    }
    for name, signature in attempts.items():
        response = post_webhook(api, body, signature)
        assert response.status_code == 401, (name, response.text)
        assert "signature" in response.json()["detail"].lower(), name
    assert payment_state(order_id) == before
    assert order(api, customer, order_id)["status"] == "STOCK_RESERVED"
    # A correctly signed body that is no webhook is 422, and changes nothing either.
    junk = b'{"id": 1}'
    assert post_webhook(api, junk, signed(junk)).status_code == 422
    assert payment_state(order_id) == before


def test_a_replayed_webhook_is_acknowledged_and_changes_nothing(
    api: httpx.Client, admin: User, customer: User
) -> None:
    _, order_id, charge_id = awaiting_order(api, admin, customer)
    assert pay(charge_id).status_code == 200
    wait_status(api, customer, order_id, "CONFIRMED")
    ((delivered,),) = wait_for(
        lambda: provider_rows(
            "SELECT body FROM webhook_outbox WHERE charge_id = %s AND status = 'delivered'",
            charge_id,
        ),
        what="the provider's charge.paid delivered",
    )
    before = payment_state(order_id)
    # The same webhook again, freshly signed (a replay inside the tolerance, or a redelivery).
    for _ in range(3):
        replayed = post_webhook(api, delivered.encode(), signed(delivered.encode()))
        assert replayed.status_code == 200, replayed.text
        assert replayed.json() == {"outcome": "duplicate"}
    assert payment_state(order_id) == before
    assert order(api, customer, order_id)["status"] == "CONFIRMED"
