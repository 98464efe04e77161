"""Pix payments on the running stack: an order paid by QR code through the payment provider
(its own process and database), its signed webhooks, and every way that can go wrong: bad,
missing or stale signatures, replays, the provider away while the charge is created, webhooks
that fail until payment_service is back, expiry, a payment that arrives after the order was
cancelled, and payment_service killed on either side of the provider's answer."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack import cli, supervisor
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
from tests.e2e.saga_support import order, port_of, stock, stopped, wait_routable
from tests.support import ManagedProcess, wait_for

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

    # order_service learns of the QR code from payment.awaiting: one hop after payment_service.
    def showing_awaiting() -> dict[str, Any] | None:
        shown = order(api, customer, order_id)
        return shown if (shown.get("payment") or {}).get("status") == "AWAITING_PAYMENT" else None

    placed = wait_for(
        showing_awaiting,
        timeout=30,
        interval=0.1,
        what=f"order {order_id} showing its payment AWAITING_PAYMENT",
    )
    assert placed is not None
    assert placed["status"] == "STOCK_RESERVED"
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
        # 301 s ahead of `now` is within the 300 s tolerance once the requests before it took
        # over a second (CI saw it accepted): a minute's margin, the time only ever runs on.
        "from the future": signed(body, at=now + 360),
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


def test_the_provider_down_while_the_charge_is_created_is_retried_into_one_charge(
    api: httpx.Client, admin: User, customer: User
) -> None:
    product = brl_product(api, admin)
    rpc = supervisor.rpc()
    rpc.stopProcess("payment_provider", True)
    try:
        order_id = place_pix_order(api, customer, product)
        # The intent is recorded, and the call fails and is put off, again and again.
        wait_for(
            lambda: payment_rows(
                "SELECT 1 FROM provider_calls WHERE order_id = %s AND kind = 'create_charge'"
                " AND status = 'pending' AND attempts >= 2 AND last_error IS NOT NULL",
                order_id,
            ),
            timeout=60,
            what="two failed attempts to create the charge",
        )
        pending = payment_of(api, customer, order_id)
        assert pending is not None and pending["status"] == "PENDING"
        assert pending["qr_code"] is None
    finally:
        supervisor.start("payment_provider")
        cli.wait_ready("payment_provider")
    payment = wait_payment(api, customer, order_id, "AWAITING_PAYMENT")
    (charge,) = charges_of(order_id)
    assert charge["charge_id"] == payment["charge_id"]
    assert pay(charge["charge_id"]).status_code == 200
    wait_status(api, customer, order_id, "CONFIRMED")
    assert len(charges_of(order_id)) == 1


def test_a_webhook_that_fails_is_retried_by_the_provider_until_accepted(
    api: httpx.Client, admin: User, customer: User
) -> None:
    _, order_id, charge_id = awaiting_order(api, admin, customer)
    with stopped("payment_service"):
        assert pay(charge_id).status_code == 200
        wait_for(
            lambda: provider_rows(
                "SELECT 1 FROM webhook_outbox WHERE charge_id = %s AND event_type = 'charge.paid'"
                " AND status = 'pending' AND attempts >= 2",
                charge_id,
            ),
            timeout=60,
            what="two failed deliveries of charge.paid",
        )
    wait_status(api, customer, order_id, "CONFIRMED")
    ((status, attempts, last_status),) = provider_rows(
        "SELECT status, attempts, last_status FROM webhook_outbox"
        " WHERE charge_id = %s AND event_type = 'charge.paid'",
        charge_id,
    )
    assert (status, last_status) == ("delivered", 200)
    assert attempts >= 3
    assert outbox_events(order_id) == ["payment.awaiting", "payment.authorized"]


def test_an_expired_charge_declines_and_cancels_the_order_releasing_its_stock(
    api: httpx.Client, admin: User, customer: User
) -> None:
    product, order_id, charge_id = awaiting_order(api, admin, customer)
    assert stock(api, product) == 4
    # The customer never pays: the provider's clock reaches the charge's expiry (moved to now
    # rather than waiting PIX_PAYMENT_TIMEOUT out).
    provider_rows("UPDATE charges SET expires_at = now() WHERE charge_id = %s", charge_id)
    cancelled = wait_status(api, customer, order_id, "CANCELLED")
    assert cancelled["payment"]["status"] == "DECLINED"
    assert "expired" in cancelled["failure_reason"]
    declined = payment_of(api, customer, order_id)
    assert declined is not None
    assert (declined["status"], declined["reason"]) == ("DECLINED", "expired")
    wait_for(lambda: stock(api, product) == 5, what="the reservation released")
    assert [c["status"] for c in charges_of(order_id)] == ["expired"]
    assert pay(charge_id).status_code == 409


def test_cancelling_an_unpaid_pix_order_withdraws_its_charge(
    api: httpx.Client, admin: User, customer: User
) -> None:
    product, order_id, charge_id = awaiting_order(api, admin, customer)
    cancel = api.post(f"/api/orders/{order_id}/cancel", headers=customer.auth)
    assert cancel.status_code in (200, 202), cancel.text
    wait_payment(api, customer, order_id, "VOIDED")
    wait_for(
        lambda: [c["status"] for c in charges_of(order_id)] == ["cancelled"],
        what="the charge cancelled at the provider",
    )
    refused = pay(charge_id)
    assert refused.status_code == 409
    assert "cancelled" in refused.json()["detail"]
    wait_for(lambda: stock(api, product) == 5, what="the reservation released")
    assert order(api, customer, order_id)["status"] == "CANCELLED"


def test_a_payment_that_arrives_after_the_cancellation_is_refunded_once(
    api: httpx.Client, admin: User, customer: User
) -> None:
    product, order_id, charge_id = awaiting_order(api, admin, customer)
    # payment_service away: the customer pays, and cancels before payment_service hears of it.
    with stopped("payment_service"):
        assert pay(charge_id).status_code == 200
        cancel = api.post(f"/api/orders/{order_id}/cancel", headers=customer.auth)
        assert cancel.status_code in (200, 202), cancel.text
    refunded = wait_payment(api, customer, order_id, "REFUNDED", timeout=120)
    assert refunded["amount"] == "25.90"
    (charge,) = charges_of(order_id)
    assert charge["status"] == "refunded"
    # One refund asked of the provider, and one payment.refunded: no net charge.
    assert provider_rows(
        "SELECT count(*) FROM idempotency_keys WHERE operation = 'refund_charge'"
        " AND charge_id = %s",
        charge_id,
    ) == [(1,)]
    assert outbox_events(order_id).count("payment.refunded") == 1
    assert order(api, customer, order_id)["status"] == "CANCELLED"
    wait_for(lambda: stock(api, product) == 5, what="the reservation released")


def _payment_service_with(failpoint: str, log_path: Path) -> ManagedProcess:
    """payment_service as `make up` runs it, with a crash point armed, instead of the
    supervised one."""
    (program,) = [p for p in cli.service_programs() if p.name == "payment_service"]
    process = ManagedProcess(
        [sys.executable, "-m", "payment_service"],
        {**program.environment, "SERVICEKIT_FAILPOINTS": f"{failpoint}=kill"},
        log_path,
        http_port=port_of("payment_service"),
    ).start()
    wait_for(
        lambda: (process.health() or {}).get("status") == "ok",
        timeout=90,
        what="payment_service with a crash point consuming",
    )
    return process


@pytest.mark.parametrize(
    ("failpoint", "charges_at_crash"),
    [("payment.pix.before_create_charge", 0), ("payment.pix.before_record_charge", 1)],
)
def test_payment_service_killed_around_the_providers_answer_makes_one_charge(
    api: httpx.Client,
    admin: User,
    customer: User,
    artifacts: Path,
    failpoint: str,
    charges_at_crash: int,
) -> None:
    product = brl_product(api, admin)
    rpc = supervisor.rpc()
    rpc.stopProcess("payment_service", True)
    try:
        crashing = _payment_service_with(failpoint, artifacts / "payment_service.log")
        order_id = place_pix_order(api, customer, product)
        assert crashing.process is not None
        wait_for(
            lambda: crashing.process is not None and crashing.process.poll() is not None,
            timeout=90,
            what=f"payment_service to die at {failpoint}",
        )
        assert crashing.process.returncode == -9, crashing.output()[-2000:]
        # The intent survived the crash; the charge was made or not, and nothing recorded it.
        assert payment_rows(
            "SELECT status, charge_id FROM payments WHERE order_id = %s", order_id
        ) == [("PENDING", None)]
        assert len(charges_of(order_id)) == charges_at_crash
    finally:
        supervisor.start("payment_service")
        cli.wait_ready("payment_service")
        wait_routable("payment_service")
    payment = wait_payment(api, customer, order_id, "AWAITING_PAYMENT")
    (charge,) = charges_of(order_id)
    assert charge["charge_id"] == payment["charge_id"]
    assert pay(charge["charge_id"]).status_code == 200
    wait_status(api, customer, order_id, "CONFIRMED")
    assert len(charges_of(order_id)) == 1
    assert outbox_events(order_id) == ["payment.awaiting", "payment.authorized"]
