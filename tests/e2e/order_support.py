"""Helpers for the fulfilment and live status tests: staff accounts, confirmed orders, and a
Server-Sent Events client that reads a stream in a thread and can leave it at any moment."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt

from devstack import layout
from tests.e2e.conftest import GATEWAY, User, login, register
from tests.e2e.saga_support import create_product, wait_order
from tests.support import wait_for

ADDRESS = {
    "street": "Rua das Flores",
    "number": "42",
    "city": "Curitiba",
    "state": "PR",
    "country": "BR",
    "zipcode": "80010-000",
}


def staff_member(api: httpx.Client, admin: User) -> User:
    """A registered customer an admin made staff, with a token that says so."""
    user = register(api)
    granted = api.put(
        f"/api/auth/users/{user.user_id}/roles",
        headers=admin.auth,
        json={"roles": ["customer", "staff"]},
    )
    assert granted.status_code == 200, granted.text
    tokens = login(api, user.email, user.password)  # a new token carries the new role
    return User(user.user_id, user.email, user.password, tokens["access_token"], "")


def order_metric(name: str, **labels: str) -> float:
    """One sample of order_service's /metrics, labelled or not (0 when absent)."""
    port = next(s.port for s in layout.SERVICES if s.package == "order_service")
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    wanted = "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
    prefix = f"{name}{wanted if labels else ''} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def user_id_of(user: User) -> str:
    """The user id a token names (the admin fixture's is not filled in)."""
    claims = jwt.decode(user.access_token, options={"verify_signature": False})
    return str(claims["sub"])


def confirmed_order(
    api: httpx.Client, admin: User, customer: User, *, product: str | None = None
) -> str:
    """A CONFIRMED order of ``customer`` (stock committed), with a delivery address."""
    product = product or create_product(api, admin, stock=5, price="7.00")
    response = api.post(
        "/api/orders",
        headers=customer.auth,
        json={"items": [{"product_id": product, "quantity": 1}], "delivery_address": ADDRESS},
    )
    assert response.status_code == 202, response.text
    order_id = str(response.json()["order_id"])
    wait_order(
        api,
        customer,
        order_id,
        until=lambda o: o["status"] == "CONFIRMED" and o["inventory"]["status"] == "COMMITTED",
    )
    return order_id


def step(api: httpx.Client, by: User, order_id: str, status: str) -> httpx.Response:
    """POST /api/orders/{order_id}/fulfilment."""
    return api.post(f"/api/orders/{order_id}/fulfilment", headers=by.auth, json={"status": status})


@dataclass
class Event:
    """One Server-Sent Event."""

    name: str
    id: str | None
    data: str

    @property
    def order(self) -> dict[str, Any]:
        """The order a ``status`` event carries."""
        body: dict[str, Any] = json.loads(self.data)
        return body


@dataclass
class EventStream:
    """GET ``path`` as an event stream through the gateway, read in a thread from the moment
    the response head arrived: ``events`` and ``comments`` grow as lines come; ``ended`` is set
    when the server ended the stream (or the client left)."""

    path: str
    token: str | None
    source: str | None = None  # the local address to connect from
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    events: list[Event] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    ended: threading.Event = field(default_factory=threading.Event)

    def open(self) -> EventStream:
        """Send the request and wait for the response head; then read on in a thread."""
        gateway = urlsplit(GATEWAY)
        self._conn = http.client.HTTPConnection(
            gateway.hostname or "127.0.0.1",
            gateway.port or 80,
            timeout=60,
            source_address=(self.source, 0) if self.source else None,
        )
        headers = {"Accept": "text/event-stream"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self._conn.request("GET", self.path, headers=headers)
        self._response = self._conn.getresponse()
        self.status = self._response.status
        self.headers = {name.lower(): value for name, value in self._response.getheaders()}
        if self.status != 200:
            self.body = self._response.read().decode()
            self._conn.close()
            self.ended.set()
            return self
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            while True:
                line = self._response.readline()
                if not line:
                    return
                text = line.decode().rstrip("\r\n")
                if text.startswith(":"):
                    self.comments.append(text[1:].strip())
                elif text:
                    name, _, value = text.partition(":")
                    fields[name] = value.removeprefix(" ")
                elif fields:
                    self.events.append(
                        Event(fields.get("event", "message"), fields.get("id"), fields["data"])
                    )
                    fields = {}
        except (OSError, http.client.HTTPException, ValueError):
            return  # the connection was cut: by the test (leave), or it failed
        finally:
            self.ended.set()

    def leave(self) -> None:
        """Go away as a client does: shut the connection down under the reading thread, which
        then sees its end and closes it."""
        with contextlib.suppress(OSError, AttributeError):  # the server closed it already
            self._conn.sock.shutdown(socket.SHUT_RDWR)
        self.ended.wait(10)
        self._conn.close()

    def statuses(self) -> list[dict[str, Any]]:
        """The orders of every ``status`` event so far."""
        return [event.order for event in self.events if event.name == "status"]

    def wait_events(self, count: int, *, timeout: float = 30) -> list[Event]:
        """At least ``count`` events, waiting for them."""
        wait_for(lambda: len(self.events) >= count, timeout=timeout, what=f"{count} events")
        return list(self.events)
