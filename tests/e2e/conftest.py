"""End-to-end fixtures: everything through the gateway on :8080, with every process real
(started by `make test`, as `make up` does)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from devstack import layout
from tests.support import wait_for

GATEWAY = os.environ.get("GATEWAY_URL", f"http://localhost:{layout.GATEWAY_PORT}")
ADMIN_EMAIL = os.environ.get("ADMIN_EMAIL", "admin@example.com")
ADMIN_PASSWORD = os.environ.get("ADMIN_PASSWORD", "Admin-password-1")


@dataclass
class User:
    """A registered, logged-in customer."""

    user_id: str
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def auth(self) -> dict[str, str]:
        """The Authorization header."""
        return {"Authorization": f"Bearer {self.access_token}"}


@pytest.fixture(scope="session")
def api() -> Iterator[httpx.Client]:
    """An HTTP client for the gateway; fails the session clearly when the stack is not up."""
    with httpx.Client(base_url=GATEWAY, timeout=15.0) as client:
        try:
            client.get("/health").raise_for_status()
        except httpx.HTTPError as exc:
            pytest.fail(
                f"gateway not reachable at {GATEWAY} ({exc}): run the suite with `make test`"
            )
        yield client


def unique_email(prefix: str = "user") -> str:
    """An email no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def register(api: httpx.Client, *, password: str = "correct-horse-42") -> User:
    """Register and log in a fresh customer."""
    email = unique_email()
    response = api.post(
        "/api/auth/register", json={"email": email, "password": password, "full_name": "Test User"}
    )
    assert response.status_code == 201, response.text
    user_id = response.json()["user_id"]
    tokens = login(api, email, password)
    return User(user_id, email, password, tokens["access_token"], tokens["refresh_token"])


def login(api: httpx.Client, email: str, password: str) -> dict[str, str]:
    """A token pair, asserting success."""
    response = api.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


@pytest.fixture
def customer(api: httpx.Client) -> User:
    """A fresh customer whose profile exists (the registration event has been applied)."""
    user = register(api)
    wait_for(
        lambda: api.get("/api/users/me", headers=user.auth).status_code == 200,
        timeout=30,
        what="profile created from account.registered",
    )
    return user


@pytest.fixture(scope="session")
def admin(api: httpx.Client) -> User:
    """The admin account created from ADMIN_EMAIL / ADMIN_PASSWORD."""
    tokens = login(api, ADMIN_EMAIL, ADMIN_PASSWORD)
    return User("", ADMIN_EMAIL, ADMIN_PASSWORD, tokens["access_token"], tokens["refresh_token"])


def fresh_loopback_address() -> str:
    """A loopback address (127.x.y.z: any of them reaches the gateway, which counts each as a
    client of its own) that no other test is likely to have used this window."""
    raw = uuid.uuid4().bytes
    return f"127.{raw[0] % 254 + 1}.{raw[1]}.{raw[2] % 254 + 1}"


def create_guest(address: str | None = None) -> User:
    """A new guest (POST /api/auth/guest) with its token pair; email and password are empty.
    Made from ``address``, a fresh loopback address by default, so that the guests tests make
    never exhaust the guest limit of the address every other request comes from."""
    transport = httpx.HTTPTransport(local_address=address or fresh_loopback_address())
    with httpx.Client(base_url=GATEWAY, transport=transport, timeout=15.0) as client:
        response = client.post("/api/auth/guest", json={})
    assert response.status_code == 201, response.text
    body = response.json()
    return User(body["user_id"], "", "", body["access_token"], body["refresh_token"])
