"""GET /ops/inbox, which every service app serves for ops_service: the inbox rows of the asked
events written by this service's own consumers, to an admin token only, with bounded input.
A real service app (create_service_app) on a throw-away database."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import psycopg2
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from servicekit.ops import MAX_INBOX_EVENT_IDS
from servicekit.runtime import ServiceRuntime
from servicekit.service_app import create_service_app
from servicekit.settings import EurekaSettings, HttpServiceSettings
from servicekit.tokens import AUDIENCE, ISSUER
from tests.support import scratch_database, sqlalchemy_url

pytestmark = pytest.mark.integration

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
JWKS = {
    "keys": [
        {
            **jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True),
            "kid": "k1",
            "use": "sig",
        }
    ]
}


def token(*roles: str) -> dict[str, str]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(uuid.uuid4()),
        "roles": list(roles),
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
    }
    encoded = jwt.encode(claims, KEY, algorithm="RS256", headers={"kid": "k1"})
    return {"Authorization": f"Bearer {encoded}"}


class IdleConsumer:
    """Stands in for an inbox consumer: only its group name matters here."""

    def __init__(self, name: str) -> None:
        self.name = self.client_id = name
        self.running = True

    def run(self, stop: threading.Event) -> None:
        stop.wait()


def jwks(_: ServiceRuntime, __: Any) -> Any:
    async def fetch() -> dict[str, Any]:
        return JWKS

    return fetch


@pytest.fixture
def service(engines: None) -> Iterator[tuple[TestClient, str]]:
    with scratch_database("inbox") as url:

        def start(runtime: ServiceRuntime) -> None:
            runtime.consumers.append(IdleConsumer("mine"))

        app = create_service_app(
            name="inbox-test",
            title="inbox-test",
            settings=HttpServiceSettings(database_url=sqlalchemy_url(url)),
            routers=[],
            on_startup=start,
            jwks=jwks,
            eureka=EurekaSettings(enabled=False),
        )
        with TestClient(app) as client:
            yield client, url


def add_inbox_row(url: str, consumer: str, event_id: str, offset: int) -> None:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO inbox (consumer, event_id, event_type, topic, kafka_partition,"
            " kafka_offset) VALUES (%s, %s, 'order.created', 'order.events', 3, %s)",
            (consumer, event_id, offset),
        )


def test_an_admin_gets_the_rows_of_the_asked_events_by_this_services_consumers(
    service: tuple[TestClient, str],
) -> None:
    client, url = service
    asked, other, foreign = (str(uuid.uuid4()) for _ in range(3))
    add_inbox_row(url, "mine", asked, 41)
    add_inbox_row(url, "mine", other, 42)  # not asked
    add_inbox_row(url, "a-group-this-service-does-not-run", asked, 43)
    response = client.get(
        "/ops/inbox", params=[("event_id", asked), ("event_id", foreign)], headers=token("admin")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["service"] == "inbox-test"
    assert [(e["consumer"], e["event_id"], e["offset"]) for e in body["entries"]] == [
        ("mine", asked, 41)
    ]
    entry = body["entries"][0]
    assert (entry["event_type"], entry["topic"], entry["partition"]) == (
        "order.created",
        "order.events",
        3,
    )
    assert entry["processed_at"]


def test_anyone_but_an_admin_is_refused(service: tuple[TestClient, str]) -> None:
    client, _ = service
    params = {"event_id": str(uuid.uuid4())}
    assert client.get("/ops/inbox", params=params).status_code == 401
    assert client.get("/ops/inbox", params=params, headers=token("customer")).status_code == 403


def test_ids_that_are_not_event_ids_or_too_many_are_refused_with_422(
    service: tuple[TestClient, str],
) -> None:
    client, _ = service
    admin = token("admin")
    too_many = [("event_id", str(uuid.uuid4())) for _ in range(MAX_INBOX_EVENT_IDS + 1)]
    for params in ([("event_id", "not-a-uuid")], [], too_many):
        response = client.get("/ops/inbox", params=params, headers=admin)
        assert response.status_code == 422, (params[:1], response.text)
