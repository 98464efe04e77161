"""``make demo``: a walk through the platform, only through the gateway on :8080.

Registers a customer, logs in, creates products as the admin, then places four orders: one that
confirms, one rejected for stock, one whose payment is declined, and one cancelled at once; then
prints every order's final state and saga timeline.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from typing import Any

import httpx

GATEWAY = os.environ.get("GATEWAY_URL", "http://localhost:8080")
ADMIN_EMAIL = os.environ.get("ADMIN_EMAIL", "admin@example.com")
ADMIN_PASSWORD = os.environ.get("ADMIN_PASSWORD", "Admin-password-1")
FINAL = {"CONFIRMED", "REJECTED", "CANCELLED"}


def say(step: str, detail: str = "") -> None:
    """One line of narration."""
    print(f"\n== {step}" + (f"\n   {detail}" if detail else ""), flush=True)


def check(response: httpx.Response, *expected: int) -> Any:
    """The JSON body, or exit with what went wrong."""
    if response.status_code not in expected:
        sys.exit(
            f"   unexpected {response.status_code} from {response.request.method} "
            f"{response.request.url.path}: {response.text}"
        )
    return response.json() if response.content else None


def wait_final(api: httpx.Client, headers: dict[str, str], order_id: str) -> dict[str, Any]:
    """Poll until the saga has finished with the order (30 s at most)."""
    deadline = time.monotonic() + 30
    while True:
        body: dict[str, Any] = check(api.get(f"/api/orders/{order_id}", headers=headers), 200)
        settled = body["status"] in FINAL and body["inventory"]["status"] not in ("PENDING",)
        if settled or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def main() -> None:
    """Run the walk-through."""
    api = httpx.Client(base_url=GATEWAY, timeout=15)
    try:
        api.get("/health").raise_for_status()
    except httpx.HTTPError:
        sys.exit(f"the gateway does not answer at {GATEWAY}: run `make up` first")

    email = f"demo-{uuid.uuid4().hex[:8]}@example.com"
    password = "demo-password-1"  # noqa: S105 - a throw-away demo account
    say("register a customer", email)
    check(
        api.post(
            "/api/auth/register",
            json={"email": email, "password": password, "full_name": "Demo Customer"},
        ),
        201,
    )
    tokens = check(api.post("/api/auth/login", json={"email": email, "password": password}), 200)
    customer = {"Authorization": f"Bearer {tokens['access_token']}"}
    say("log in", f"access token valid {tokens['expires_in']} s, refresh token rotates on use")

    admin_tokens = check(
        api.post("/api/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}), 200
    )
    admin = {"Authorization": f"Bearer {admin_tokens['access_token']}"}
    suffix = uuid.uuid4().hex[:6].upper()
    products = {}
    for key, name, price, stock in (
        ("mug", "Coffee mug", "12.50", 10),
        ("lamp", "Desk lamp", "49.90", 1),
        ("sofa", "Leather sofa", "3200.00", 5),
    ):
        body = check(
            api.post(
                "/api/products",
                headers=admin,
                json={
                    "sku": f"{key.upper()}-{suffix}",
                    "name": name,
                    "price": price,
                    "currency": "EUR",
                    "stock": stock,
                    "description": f"demo {name.lower()}",
                },
            ),
            201,
        )
        products[key] = body["product_id"]
        say(f"admin creates {name}", f"{price} EUR, stock {stock}, id {body['product_id']}")

    profile = api.get("/api/users/me", headers=customer)
    say("profile (made by user_service from account.registered)", profile.text)

    orders: dict[str, str] = {}
    plans = (
        ("confirms", [("mug", 2)]),
        ("rejected: not enough lamps", [("lamp", 3)]),
        ("declined: 2 x 3200.00 is above the payment limit", [("sofa", 2)]),
        ("cancelled by the customer", [("mug", 1)]),
    )
    for label, lines in plans:
        body = check(
            api.post(
                "/api/orders",
                headers=customer,
                json={"items": [{"product_id": products[k], "quantity": q} for k, q in lines]},
            ),
            202,
        )
        orders[label] = body["order_id"]
        say(
            f"order that {label}" if label == "confirms" else f"order {label}",
            f"{body['order_id']} -> {body['status']}",
        )
        if label.startswith("cancelled"):
            cancelled = api.post(f"/api/orders/{body['order_id']}/cancel", headers=customer)
            outcome = (
                cancelled.json().get("status")
                if cancelled.status_code == 202
                else (f"409: the saga confirmed it first ({cancelled.json()['detail']})")
            )
            say("cancel it straight away", str(outcome))

    for label, order_id in orders.items():
        final = wait_final(api, customer, order_id)
        say(
            f"final state, order {label}",
            f"status {final['status']}, payment {final['payment']['status']}, inventory "
            f"{final['inventory']['status']}, total {final['total']} {final['currency']}"
            + (f", reason: {final['failure_reason']}" if final["failure_reason"] else ""),
        )
        for step in check(api.get(f"/api/orders/{order_id}/timeline", headers=customer), 200):
            print(
                f"     {step['at'][11:23]}  {step['service']:<16} {step['event_type']:<26}"
                f" {step['step']}"
            )

    stock_left = {
        k: check(api.get(f"/api/products/{pid}"), 200)["stock_available"]
        for k, pid in products.items()
    }
    say("stock now", ", ".join(f"{k}: {v}" for k, v in stock_left.items()))
    # Notifications are recorded from events and mailed by a sender loop: wait for all five
    # (welcome + one per finished order) to be sent, ten seconds at most.
    deadline = time.monotonic() + 10
    while True:
        notes = check(api.get("/api/notifications", headers=customer), 200)
        if sum(n["status"] == "SENT" for n in notes) >= 5 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    say(
        "notifications",
        "\n   ".join(f"{n['kind']:<16} {n['status']:<8} {n['subject']}" for n in notes)
        or "(none yet)",
    )
    payments = check(api.get("/api/payments", headers=customer), 200)
    say(
        "payments",
        "\n   ".join(
            f"{p['order_id']} {p['status']:<10} {p['amount']} {p['currency']}" for p in payments
        )
        or "(none)",
    )


if __name__ == "__main__":
    main()
