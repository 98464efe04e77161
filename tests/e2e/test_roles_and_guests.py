"""Roles and guests through the gateway: an admin grants roles (account.roles_changed), which a
token shows from its next refresh; a guest is made without email or password, its token works on
the other services, each client address makes a bounded number of guests, and a guest that
registers keeps its user_id and with it its orders.

With `make up`'s settings: 60 guests per address, then one more every 10 s."""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import jwt
import psycopg2
import pytest

from devstack import layout
from tests.e2e.conftest import (
    GATEWAY,
    User,
    create_guest,
    fresh_loopback_address,
    login,
    register,
    unique_email,
)
from tests.e2e.saga_support import create_product, place_order
from tests.support import TopicReader, headers_of

pytestmark = pytest.mark.e2e

GUEST_LIMIT = 60  # AUTH_GUEST_MAX_PER_ADDRESS
GUEST_WINDOW_SECONDS = 600  # AUTH_GUEST_WINDOW_SECONDS
PASSWORD = "correct-horse-42"


def claims(access_token: str) -> dict[str, Any]:
    """A token's claims (the services verify it; here only what it says matters)."""
    decoded: dict[str, Any] = jwt.decode(access_token, options={"verify_signature": False})
    return decoded


def set_roles(api: httpx.Client, by: User, user_id: str, body: object) -> httpx.Response:
    return api.put(f"/api/auth/users/{user_id}/roles", headers=by.auth, json=body)


def account_row(user_id: str) -> tuple[str | None, str | None, bool, list[str]] | None:
    """(email, full_name, has a password hash, roles) of an account, as the database has it."""
    with psycopg2.connect(layout.libpq_url("auth_service")) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT email, full_name, password_hash IS NOT NULL, roles FROM accounts"
            " WHERE user_id = %s",
            (user_id,),
        )
        row = cur.fetchone()
    return None if row is None else (row[0], row[1], row[2], list(row[3]))


def accounts_with_email(email: str) -> int:
    with psycopg2.connect(layout.libpq_url("auth_service")) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM accounts WHERE email = %s", (email,))
        return int(cur.fetchone()[0])


def guests_counted(address: str) -> float | None:
    """How many guests the auth service holds against a client address (None: no bucket)."""
    with psycopg2.connect(layout.libpq_url("auth_service")) as conn, conn.cursor() as cur:
        cur.execute("SELECT level FROM guest_address_buckets WHERE address = %s", (address,))
        row = cur.fetchone()
    return None if row is None else float(row[0])


def events_of(user_id: str, event_type: str) -> list[dict[str, Any]]:
    """The payloads of ``event_type`` for one account on account.events, once one arrived."""
    key = user_id.encode()

    def mine(messages: list[Any]) -> list[Any]:
        return [m for m in messages if m.key() == key and headers_of(m)["event_type"] == event_type]

    reader = TopicReader("account.events")
    try:
        messages = reader.read_until(lambda ms: bool(mine(ms)))
    finally:
        reader.close()
    return [json.loads(m.value())["payload"] for m in mine(messages)]


def event_types_of(user_id: str, until: str) -> list[str]:
    """Every event type on account.events for one account, read until ``until`` arrived."""
    key = user_id.encode()
    reader = TopicReader("account.events")
    try:
        messages = reader.read_until(
            lambda ms: any(m.key() == key and headers_of(m)["event_type"] == until for m in ms)
        )
    finally:
        reader.close()
    return [headers_of(m)["event_type"] for m in messages if m.key() == key]


@contextmanager
def client_at(address: str) -> Iterator[httpx.Client]:
    """An HTTP client of the gateway whose connections come from ``address``."""
    transport = httpx.HTTPTransport(local_address=address)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    with httpx.Client(base_url=GATEWAY, transport=transport, timeout=60.0, limits=limits) as client:
        yield client


def all_at_once(count: int, attempt: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """``count`` requests released together from as many threads."""
    barrier = threading.Barrier(count)

    def run(index: int) -> httpx.Response:
        barrier.wait()
        return attempt(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


# -- roles ---------------------------------------------------------------------------------------


def test_an_admin_grants_staff_and_the_users_next_refresh_shows_it(
    api: httpx.Client, admin: User
) -> None:
    admin_id = claims(admin.access_token)["sub"]
    user = register(api)
    granted = set_roles(api, admin, user.user_id, {"roles": ["staff", "customer"]})
    assert granted.status_code == 200, granted.text
    assert granted.json() == {"user_id": user.user_id, "roles": ["customer", "staff"]}
    assert account_row(user.user_id) == (user.email, "Test User", True, ["customer", "staff"])

    assert claims(user.access_token)["roles"] == ["customer"]  # issued before the change
    refreshed = api.post("/api/auth/refresh", json={"refresh_token": user.refresh_token})
    assert refreshed.status_code == 200, refreshed.text
    assert claims(refreshed.json()["access_token"])["roles"] == ["customer", "staff"]
    # A login reads the account too.
    assert claims(login(api, user.email, user.password)["access_token"])["roles"] == [
        "customer",
        "staff",
    ]
    staff = User(user.user_id, user.email, user.password, refreshed.json()["access_token"], "")
    # Staff is not admin.
    assert set_roles(api, staff, user.user_id, {"roles": ["admin"]}).status_code == 403

    (changed,) = events_of(user.user_id, "account.roles_changed")
    assert changed == {
        "user_id": user.user_id,
        "roles": ["customer", "staff"],
        "changed_by": admin_id,
    }


def test_role_changes_need_an_admin_and_valid_roles_and_bad_ones_write_nothing(
    api: httpx.Client, admin: User, customer: User
) -> None:
    admin_id = claims(admin.access_token)["sub"]
    path = f"/api/auth/users/{customer.user_id}/roles"
    assert api.put(path, json={"roles": ["staff"]}).status_code == 401
    forbidden = set_roles(api, customer, customer.user_id, {"roles": ["admin"]})
    assert forbidden.status_code == 403, forbidden.text
    unknown = set_roles(api, admin, str(uuid.uuid4()), {"roles": ["staff"]})
    assert unknown.status_code == 404, unknown.text
    assert set_roles(api, admin, "not-a-uuid", {"roles": ["staff"]}).status_code == 422

    for body, named in [
        ({"roles": ["guest"]}, "'guest'"),
        ({"roles": ["customer", "root"]}, "'root'"),
        ({"roles": []}, "at least 1"),
        ({"roles": "staff"}, "list"),
        ({"roles": ["staff"], "user_id": admin_id}, "Extra inputs"),
        ({}, "Field required"),
    ]:
        refused = set_roles(api, admin, customer.user_id, body)
        assert refused.status_code == 422, (body, refused.text)
        (error,) = refused.json()["detail"]
        assert named in error["msg"], (body, error)

    own = set_roles(api, admin, admin_id, {"roles": ["customer"]})
    assert own.status_code == 409, own.text
    assert "own admin role" in own.json()["detail"]
    guest = create_guest()
    on_guest = set_roles(api, admin, guest.user_id, {"roles": ["customer"]})
    assert on_guest.status_code == 409, on_guest.text

    assert account_row(customer.user_id) == (customer.email, "Test User", True, ["customer"])
    admin_row = account_row(admin_id)
    assert admin_row is not None and "admin" in admin_row[3]
    assert account_row(guest.user_id) == (None, None, False, ["guest"])


# -- guests --------------------------------------------------------------------------------------


def test_a_guest_has_tokens_and_nothing_else_and_they_work_elsewhere(api: httpx.Client) -> None:
    address = fresh_loopback_address()
    with client_at(address) as client:
        made = client.post("/api/auth/guest", json={})
    assert made.status_code == 201, made.text
    body = made.json()
    assert set(body) == {"user_id", "access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    said = claims(body["access_token"])
    assert said["sub"] == body["user_id"] and said["roles"] == ["guest"] and "email" not in said
    assert account_row(body["user_id"]) == (None, None, False, ["guest"])
    assert guests_counted(address) == pytest.approx(1, abs=0.1)

    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    orders = api.get("/api/orders", headers=bearer)
    assert orders.status_code == 200, orders.text
    assert orders.json()["total"] == 0
    # The profile comes from account.guest_registered once the user service applies it.
    assert api.get("/api/users/me", headers=bearer).status_code in (200, 404)

    refreshed = api.post("/api/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    assert claims(refreshed.json()["access_token"])["roles"] == ["guest"]
    (announced,) = events_of(body["user_id"], "account.guest_registered")
    assert announced["user_id"] == body["user_id"] and announced["roles"] == ["guest"]


def test_bad_guest_requests_are_refused_and_count_nothing(api: httpx.Client) -> None:
    address = fresh_loopback_address()
    with client_at(address) as client:
        extra = client.post("/api/auth/guest", json={"email": "x@example.com"})
        assert extra.status_code == 422, extra.text
        assert extra.json()["detail"][0]["loc"] == ["body", "email"]
        broken = client.post(
            "/api/auth/guest", content=b"{", headers={"Content-Type": "application/json"}
        )
        assert broken.status_code == 422, broken.text
        assert client.post("/api/auth/guest", json=[]).status_code == 422
    assert guests_counted(address) is None


def test_one_address_makes_at_most_its_limit_of_guests_concurrently(api: httpx.Client) -> None:
    address, attempts = fresh_loopback_address(), GUEST_LIMIT + 15
    started = time.monotonic()
    with client_at(address) as client:
        responses = all_at_once(attempts, lambda _: client.post("/api/auth/guest", json={}))
        elapsed = time.monotonic() - started
        codes = [response.status_code for response in responses]
        assert set(codes) <= {201, 429}, codes
        # The bucket forgives one guest every window / limit seconds: those that drained while
        # the burst ran may have been made too.
        drained = math.ceil(elapsed * GUEST_LIMIT / GUEST_WINDOW_SECONDS)
        assert GUEST_LIMIT <= codes.count(201) <= GUEST_LIMIT + drained, (codes, elapsed)
        for response in responses:
            if response.status_code == 429:
                assert int(response.headers["Retry-After"]) >= 1, response.headers
                assert "too many guest accounts" in response.json()["detail"]
        # What a client writes into X-Forwarded-For does not make it another address.
        spoofed = client.post(
            "/api/auth/guest", json={}, headers={"X-Forwarded-For": fresh_loopback_address()}
        )
        assert spoofed.status_code == 429, spoofed.text
    made = [response.json()["user_id"] for response in responses if response.status_code == 201]
    assert all(account_row(user_id) == (None, None, False, ["guest"]) for user_id in made)
    counted = guests_counted(address)
    assert counted is not None and counted <= len(made) + 0.01, (counted, len(made))
    # Another address is not held back.
    assert create_guest().user_id


def test_a_guest_that_registers_keeps_its_user_id_and_its_orders(
    api: httpx.Client, admin: User
) -> None:
    product = create_product(api, admin, stock=5)
    guest = create_guest()
    placed = place_order(api, guest, [(product, 1)])
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["order_id"]
    guest_refresh = api.post("/api/auth/refresh", json={"refresh_token": guest.refresh_token})
    assert guest_refresh.status_code == 200, guest_refresh.text  # works until the conversion

    email = unique_email("converted")
    converted = api.post(
        "/api/auth/register",
        headers=guest.auth,
        json={"email": email, "password": PASSWORD, "full_name": "Ann Guest"},
    )
    assert converted.status_code == 201, converted.text
    assert converted.json() == {"user_id": guest.user_id, "email": email}
    assert account_row(guest.user_id) == (email, "Ann Guest", True, ["customer"])
    # The guest's sessions ended with it; the customer logs in and refreshes as a customer.
    ended = api.post(
        "/api/auth/refresh", json={"refresh_token": guest_refresh.json()["refresh_token"]}
    )
    assert ended.status_code == 401, ended.text
    tokens = login(api, email, PASSWORD)
    refreshed = api.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    said = claims(refreshed.json()["access_token"])
    assert (said["sub"], said["email"], said["roles"]) == (guest.user_id, email, ["customer"])

    customer = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    listed = api.get("/api/orders", headers=customer)
    assert listed.status_code == 200, listed.text
    assert [item["order_id"] for item in listed.json()["items"]] == [order_id]
    assert api.get(f"/api/orders/{order_id}", headers=customer).status_code == 200

    types = event_types_of(guest.user_id, until="account.guest_converted")
    assert types == ["account.guest_registered", "account.guest_converted"]
    (payload,) = events_of(guest.user_id, "account.guest_converted")
    assert {k: payload[k] for k in ("user_id", "email", "full_name", "roles")} == {
        "user_id": guest.user_id,
        "email": email,
        "full_name": "Ann Guest",
        "roles": ["customer"],
    }


def test_register_with_a_token_other_than_a_guests_is_refused_writing_nothing(
    api: httpx.Client, customer: User
) -> None:
    def register_with(token: str, email: str, **fields: str) -> httpx.Response:
        body = {"email": email, "password": PASSWORD, "full_name": "Someone", **fields}
        return api.post(
            "/api/auth/register", headers={"Authorization": f"Bearer {token}"}, json=body
        )

    email = unique_email("refused")
    as_customer = register_with(customer.access_token, email)
    assert as_customer.status_code == 409, as_customer.text
    assert "registered account" in as_customer.json()["detail"]
    garbage = register_with("not.a.jwt", email)
    assert garbage.status_code == 401, garbage.text
    assert accounts_with_email(email) == 0

    guest = create_guest()
    weak = register_with(guest.access_token, email, password="short")
    assert weak.status_code == 422, weak.text
    taken = register_with(guest.access_token, customer.email)
    assert taken.status_code == 409, taken.text
    assert account_row(guest.user_id) == (None, None, False, ["guest"])
    assert accounts_with_email(email) == 0

    assert register_with(guest.access_token, email).status_code == 201
    # The guest's access token still says guest until it expires: it converts nothing again.
    again = register_with(guest.access_token, unique_email("again"))
    assert again.status_code == 409, again.text
    assert account_row(guest.user_id) == (email, "Someone", True, ["customer"])
