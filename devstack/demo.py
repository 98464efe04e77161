"""``make demo``: a walk through the platform, only through the gateway on :8080.

Registers a customer, logs in, creates products as the admin, then places four orders: one that
confirms, one rejected for stock, one whose payment is declined, and one cancelled at once; then
prints every order's final state and saga timeline. Then the kiosk: a guest orders with a delivery
address, identifies by CPF and registers, keeping its user and its order; staff (the admin here)
finds the customer by CPF and moves the order through the kitchen to DELIVERED; the timeline shows
every step. Last, an order paid by pix: its QR code printed in the terminal, paid at the payment
provider, and confirmed (devstack/demo_pix.py).
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from typing import Any

import httpx

from devstack.demo_pix import pix

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
    kiosk(api, admin, products["mug"])
    pix(api, admin, customer, check=check, say=say)


# A CPF with valid check digits, made up for the demo (user_service validates the digits).
def demo_cpf() -> str:
    """An 11-digit CPF with valid check digits, random in its first nine."""
    digits = [int(d) for d in f"{uuid.uuid4().int % 10**9:09d}"]
    for length in (9, 10):
        total = sum(d * w for d, w in zip(digits, range(length + 1, 1, -1), strict=True))
        digits.append((total * 10 % 11) % 10)
    return "".join(map(str, digits))


def kiosk(api: httpx.Client, admin: dict[str, str], product_id: str) -> None:
    """A guest at the kiosk orders, identifies by CPF and registers; the kitchen delivers."""
    guest = check(api.post("/api/auth/guest", json={}), 201)
    as_guest = {"Authorization": f"Bearer {guest['access_token']}"}
    say("kiosk: continue as guest", f"user {guest['user_id']}, no email, no password")
    address = {
        "street": "Rua Augusta",
        "number": "1500",
        "city": "Sao Paulo",
        "state": "SP",
        "country": "BR",
        "zipcode": "01304-001",
    }
    placed = check(
        api.post(
            "/api/orders",
            headers=as_guest,
            json={
                "items": [{"product_id": product_id, "quantity": 1}],
                "delivery_address": address,
                "payment_method": "card",
            },
        ),
        202,
    )
    order_id = placed["order_id"]
    order = wait_final(api, as_guest, order_id)
    where = f"{address['street']} {address['number']}, {address['city']}"
    say("the guest's order", f"{order_id} -> {order['status']}, to {where}")

    cpf = demo_cpf()
    check(api.patch("/api/users/me", headers=as_guest, json={"national_id": cpf}), 200)
    say("the guest identifies by CPF", "stored as digits; never in an event, a log or a metric")
    email = f"kiosk-{uuid.uuid4().hex[:8]}@example.com"
    registered = check(
        api.post(
            "/api/auth/register",
            headers=as_guest,
            json={"email": email, "password": "kiosk-password-1", "full_name": "Kiosk Customer"},
        ),
        201,
    )
    tokens = check(
        api.post("/api/auth/login", json={"email": email, "password": "kiosk-password-1"}), 200
    )
    customer = {"Authorization": f"Bearer {tokens['access_token']}"}
    mine = check(api.get("/api/orders", headers=customer), 200)
    kept = any(o["order_id"] == order_id for o in mine["items"])
    say(
        "the guest registers",
        f"{email}: same user {registered['user_id'] == guest['user_id']}, keeps its order {kept}",
    )

    # The profile follows the account's events: wait until the CPF lookup finds the customer.
    deadline = time.monotonic() + 10
    found: list[Any] = []
    while not found and time.monotonic() < deadline:
        found = check(api.get("/api/users", headers=admin, params={"national_id": cpf}), 200)[
            "items"
        ]
        if not found:
            time.sleep(0.2)
    say(
        "staff looks the customer up by CPF",
        f"{found[0]['email']} ({found[0]['user_id']})" if found else "(not yet)",
    )
    for step in ("PREPARING", "SHIPPED", "DELIVERED"):
        moved = check(
            api.post(f"/api/orders/{order_id}/fulfilment", headers=admin, json={"status": step}),
            200,
        )
        say(f"kitchen: {step.lower()}", f"fulfilment {moved['fulfilment']['status']}")
    for step in check(api.get(f"/api/orders/{order_id}/timeline", headers=customer), 200):
        print(
            f"     {step['at'][11:23]}  {step['service']:<16} {step['event_type']:<26}"
            f" {step['step']}"
        )


if __name__ == "__main__":
    main()
