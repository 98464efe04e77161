"""The clients: customers ordering through the gateway at a steady rate, as careful clients do.

Every call has a timeout; a call that fails in a way a retry may fix (no answer, 429, 5xx) is
retried with backoff under the same Idempotency-Key until the retry budget runs out, and only
then counts as an error the customer saw. Each order follows a plan drawn from the seeded random
generator: one that should confirm, one paid by pix (the client waits for its QR code and pays it
at the payment provider, as the customer's bank app would), one for a product with too little
stock, one above the card limit (declined), one cancelled as soon as it is accepted. Some
accepted orders are sent again with their key, as a client does whose answer was lost, and must
come back as the same order.
"""

from __future__ import annotations

import functools
import random
import secrets
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import psycopg2

from devstack import layout

# Answers a retry may change: the gateway or an instance is away, or the platform is overloaded.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
PLANS = ("confirm", "pix", "scarce", "decline", "cancel")
PLAN_WEIGHTS = (0.45, 0.1, 0.2, 0.1, 0.15)
# Above the card limit (PAYMENT_DECLINE_ABOVE, 5000.00 unless changed): two of these are declined.
DEAR_PRICE = Decimal("3000.00")
CHEAP_PRICE = Decimal("10.00")
PIX_PRICE = Decimal("89.90")  # pix moves reais only: its product is priced in BRL
# How long a pix customer keeps the app open for the QR code (the charge is made after
# stock.reserved): as long as the order waits for it, up to its own pix deadline
# (PIX_PAYMENT_TIMEOUT, 15 minutes by default), but not longer.
PIX_CHARGE_WAIT = 900.0


class SetupError(RuntimeError):
    """The platform could not be prepared for a run (before any fault)."""


@dataclass(frozen=True)
class ClientPolicy:
    """How patient the clients are."""

    call_timeout: float = 5.0  # seconds for one HTTP call
    retry_budget: float = 30.0  # seconds from the first attempt until the client gives up
    initial_backoff: float = 0.1
    max_backoff: float = 2.0


@dataclass(frozen=True)
class Customer:
    """A registered, logged-in customer, told on ``channels``."""

    user_id: str
    email: str
    access_token: str
    channels: tuple[str, ...] = ("email",)

    @property
    def auth(self) -> dict[str, str]:
        """The Authorization header."""
        return {"Authorization": f"Bearer {self.access_token}"}


@dataclass(frozen=True)
class Catalog:
    """The run's own products: plenty of one, little of another, one too dear to pay by card,
    and one priced in reais for pix."""

    plenty: str
    scarce: str
    dear: str
    pix: str

    @property
    def product_ids(self) -> list[str]:
        """Every product of the run."""
        return [self.plenty, self.scarce, self.dear, self.pix]


@dataclass
class OrderRun:
    """One order as its client lived it."""

    key: str
    plan: str
    customer: Customer
    items: list[tuple[str, int]]
    scheduled_at: float
    accepted_after: float | None = None  # seconds from the first attempt to the accepting answer
    order_ids: set[str] = field(default_factory=set)  # every order id an answer named
    attempts: int = 0
    error: str | None = None  # what the customer finally saw, when it was not an order
    pay_error: str | None = None  # pix: why the customer could not pay the charge
    replayed: bool = False  # sent again with its key after it was accepted
    cancel_error: str | None = None

    @property
    def order_id(self) -> str | None:
        """The order the key made (None if never accepted)."""
        return next(iter(sorted(self.order_ids)), None)


@dataclass
class Call:
    """The outcome of one call with retries."""

    response: httpx.Response | None
    attempts: int
    elapsed: float
    error: str | None


def call_with_retries(
    client: httpx.Client,
    policy: ClientPolicy,
    method: str,
    path: str,
    *,
    headers: dict[str, str],
    json: Any = None,
    jitter: random.Random,
) -> Call:
    """One request, retried with backoff while a retry may help and the budget lasts."""
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        error: str
        try:
            response = client.request(
                method, path, headers=headers, json=json, timeout=policy.call_timeout
            )
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        else:
            if response.status_code not in RETRYABLE_STATUSES:
                return Call(response, attempt, time.monotonic() - started, None)
            error = f"HTTP {response.status_code}"
        backoff = min(policy.initial_backoff * 2 ** (attempt - 1), policy.max_backoff)
        backoff *= 0.5 + jitter.random()
        if time.monotonic() - started + backoff > policy.retry_budget:
            return Call(None, attempt, time.monotonic() - started, error)
        time.sleep(backoff)


def _checked(response: httpx.Response, *expected: int) -> Any:
    if response.status_code not in expected:
        raise SetupError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:300]}"
        )
    return response.json() if response.content else None


def login(client: httpx.Client, email: str, password: str) -> str:
    """An access token."""
    body = _checked(
        client.post("/api/auth/login", json={"email": email, "password": password}), 200
    )
    return str(body["access_token"])


def register_customers(client: httpx.Client, count: int, run_id: str) -> list[Customer]:
    """``count`` new customers, logged in; every other one told by SMS too (a phone number and
    both channels in the profile), known to notification_service with those channels before
    the first order."""
    customers = []
    for number in range(count):
        email = f"chaos-{run_id}-{number}@example.com"
        password = f"chaos-{uuid.uuid4().hex}"
        body = _checked(
            client.post(
                "/api/auth/register",
                json={"email": email, "password": password, "full_name": f"Chaos {number}"},
            ),
            201,
        )
        channels = ("email", "sms") if number % 2 else ("email",)
        token = login(client, email, password)
        customers.append(Customer(str(body["user_id"]), email, token, channels))
    for customer in customers:
        wait_until(
            functools.partial(_has_profile, client, customer),
            timeout=60,
            what="the customers' profiles (account.registered)",
        )
        if "sms" in customer.channels:
            phone = f"+55119{secrets.randbelow(10**8):08d}"
            _checked(
                client.patch(
                    "/api/users/me",
                    headers=customer.auth,
                    json={"phone": phone, "notification_channels": list(customer.channels)},
                ),
                200,
            )
    wait_until(
        lambda: _contacts_know(customers),
        timeout=60,
        what="the customers' channels in notification_service",
    )
    return customers


def _has_profile(client: httpx.Client, customer: Customer) -> bool:
    return client.get("/api/users/me", headers=customer.auth).status_code == 200


def _contacts_know(customers: list[Customer]) -> bool:
    url = layout.libpq_url("notification_service")
    with psycopg2.connect(url, connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT user_id::text, channels FROM contacts WHERE user_id = ANY(%s::uuid[])",
            ([c.user_id for c in customers],),
        )
        known = {user_id: sorted(channels) for user_id, channels in cur.fetchall()}
    return all(known.get(c.user_id) == sorted(c.channels) for c in customers)


def create_catalog(
    client: httpx.Client, admin_token: str, *, scarce_stock: int, run_id: str
) -> Catalog:
    """The run's three products, known to order_service's read model before the first order."""
    admin = {"Authorization": f"Bearer {admin_token}"}
    ids: dict[str, str] = {}
    for role, price, currency, units in (
        ("plenty", CHEAP_PRICE, "EUR", 1_000_000),
        ("scarce", CHEAP_PRICE, "EUR", scarce_stock),
        ("dear", DEAR_PRICE, "EUR", 1_000_000),
        ("pix", PIX_PRICE, "BRL", 1_000_000),
    ):
        body = _checked(
            client.post(
                "/api/products",
                headers=admin,
                json={
                    "sku": f"CHAOS-{run_id}-{role}".upper(),
                    "name": f"Chaos {role} {run_id}",
                    "description": "made by make chaos",
                    "price": str(price),
                    "currency": currency,
                    "stock": units,
                },
            ),
            201,
        )
        ids[role] = str(body["product_id"])
    wait_until(
        lambda: _order_side_knows(list(ids.values())),
        timeout=60,
        what="the run's products in order_service's catalog",
    )
    return Catalog(ids["plenty"], ids["scarce"], ids["dear"], ids["pix"])


def _order_side_knows(product_ids: list[str]) -> bool:
    url = layout.libpq_url("order_service")
    with psycopg2.connect(url, connect_timeout=5) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM products WHERE product_id = ANY(%s::uuid[])", (product_ids,)
        )
        row = cur.fetchone()
    return row is not None and row[0] == len(product_ids)


def wait_until(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll ``check`` until it holds, or raise SetupError naming ``what``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SetupError(f"gave up waiting {timeout:.0f} s for {what}")
        time.sleep(0.2)


def plan_orders(
    rng: random.Random, customers: list[Customer], catalog: Catalog, count: int, rate: float
) -> list[OrderRun]:
    """The whole run's orders, decided up front from the seed (start times relative to 0)."""
    orders = []
    for number in range(count):
        plan = rng.choices(PLANS, PLAN_WEIGHTS)[0]
        if plan == "scarce":
            items = [(catalog.scarce, rng.randint(1, 2))]
        elif plan == "decline":
            items = [(catalog.dear, 2)]
        elif plan == "pix":
            items = [(catalog.pix, rng.randint(1, 2))]
        else:
            items = [(catalog.plenty, rng.randint(1, 3))]
        orders.append(
            OrderRun(
                key=f"chaos-{uuid.UUID(int=rng.getrandbits(128))}",
                plan=plan,
                customer=rng.choice(customers),
                items=items,
                scheduled_at=number / rate,
                replayed=rng.random() < 0.1,
            )
        )
    return orders


class Load:
    """Places the planned orders at their times, each in its own worker."""

    def __init__(
        self,
        gateway: str,
        provider: str,
        orders: list[OrderRun],
        policy: ClientPolicy,
        seed: int,
        workers: int = 128,
    ) -> None:
        self.gateway = gateway
        self.provider = provider
        self.orders = orders
        self.policy = policy
        self.seed = seed
        self.workers = workers
        self.started = 0.0
        # One client for every worker (httpx clients are thread-safe), made before the clock
        # starts: making one costs far more than a request.
        self.client = httpx.Client(
            base_url=gateway,
            limits=httpx.Limits(max_connections=workers, max_keepalive_connections=workers),
        )

    def run(self, started: float) -> None:
        """Place every order at its time after ``started`` (monotonic); return once every client
        is done."""
        self.started = started
        with ThreadPoolExecutor(self.workers, thread_name_prefix="chaos-client") as pool:
            for number, order in enumerate(self.orders):
                delay = self.started + order.scheduled_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(self._place, order, number)
        # A customer who gave up comes back later and sends the order again under its key: the
        # order may well exist (the answer was lost), and a pix order then still waits to be
        # paid. It stays an error the customer saw.
        with ThreadPoolExecutor(self.workers, thread_name_prefix="chaos-client") as pool:
            for number, order in enumerate(self.orders):
                if order.error is not None:
                    pool.submit(self._place, order, number, True)
        self.client.close()

    def _place(self, order: OrderRun, number: int, again: bool = False) -> None:
        client = self.client
        jitter = random.Random(self.seed * 1_000_003 + number + (1 << 40 if again else 0))
        headers = {**order.customer.auth, "Idempotency-Key": order.key}
        body = {
            "items": [{"product_id": pid, "quantity": qty} for pid, qty in order.items],
            "payment_method": "pix" if order.plan == "pix" else "card",
        }
        placed = call_with_retries(
            client, self.policy, "POST", "/api/orders", headers=headers, json=body, jitter=jitter
        )
        order.attempts += placed.attempts
        if placed.response is None or placed.response.status_code not in (200, 202):
            if not again:
                order.error = placed.error or (
                    f"HTTP {placed.response.status_code}" if placed.response else "no answer"
                )
            return
        if not again:
            order.accepted_after = placed.elapsed
        order.order_ids.add(str(placed.response.json()["order_id"]))
        if order.plan == "cancel":
            self._cancel(client, order, jitter)
        if order.plan == "pix":
            self._pay_pix(client, order, jitter)
        if order.replayed and not again:
            resent = call_with_retries(
                client,
                self.policy,
                "POST",
                "/api/orders",
                headers=headers,
                json=body,
                jitter=jitter,
            )
            if resent.response is not None and resent.response.status_code in (200, 202):
                order.order_ids.add(str(resent.response.json()["order_id"]))

    def _pay_pix(self, client: httpx.Client, order: OrderRun, jitter: random.Random) -> None:
        """Wait for the order's QR code, then pay it at the provider as a bank app would."""
        deadline = time.monotonic() + PIX_CHARGE_WAIT
        charge_id: str | None = None
        while charge_id is None:
            listed = call_with_retries(
                client,
                self.policy,
                "GET",
                f"/api/payments?order_id={order.order_id}",
                headers=order.customer.auth,
                jitter=jitter,
            )
            payments = listed.response.json() if listed.response is not None else []
            if listed.response is not None and listed.response.status_code != 200:
                payments = []
            for payment in payments:
                if payment["status"] == "AWAITING_PAYMENT" and payment.get("charge_id"):
                    charge_id = str(payment["charge_id"])
                elif payment["status"] not in ("PENDING", "AWAITING_PAYMENT"):
                    return  # the saga ended the payment first (timed out): nothing to pay
            if charge_id is None and not payments and self._ended(client, order, jitter):
                return  # the order ended before any payment was asked for
            if charge_id is None:
                if time.monotonic() > deadline:
                    order.pay_error = f"no QR code to pay within {PIX_CHARGE_WAIT:.0f} s"
                    return
                time.sleep(1.0)
        paid = call_with_retries(
            client,
            self.policy,
            "POST",
            f"{self.provider}/charges/{charge_id}/pay",
            headers={},
            jitter=jitter,
        )
        # 409: the charge expired or was cancelled because the order ended first.
        if paid.response is None or paid.response.status_code not in (200, 409):
            order.pay_error = paid.error or (
                f"HTTP {paid.response.status_code}" if paid.response else "no answer"
            )

    def _ended(self, client: httpx.Client, order: OrderRun, jitter: random.Random) -> bool:
        """Whether the order has ended (as far as the customer can tell)."""
        read = call_with_retries(
            client,
            self.policy,
            "GET",
            f"/api/orders/{order.order_id}",
            headers=order.customer.auth,
            jitter=jitter,
        )
        if read.response is None or read.response.status_code != 200:
            return False
        return str(read.response.json()["status"]) in ("CONFIRMED", "REJECTED", "CANCELLED")

    def _cancel(self, client: httpx.Client, order: OrderRun, jitter: random.Random) -> None:
        cancelled = call_with_retries(
            client,
            self.policy,
            "POST",
            f"/api/orders/{order.order_id}/cancel",
            headers=order.customer.auth,
            jitter=jitter,
        )
        # 409: the saga had already finished the order, which is a fine answer to a cancel.
        if cancelled.response is None or cancelled.response.status_code not in (202, 409):
            order.cancel_error = cancelled.error or (
                f"HTTP {cancelled.response.status_code}" if cancelled.response else "no answer"
            )
