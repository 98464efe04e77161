"""The payment provider as a real process on its own throw-away database, calling back a real
HTTP receiver started by the test: idempotent charges, paying, refunding once, expiry (even with
a late expiry worker), signed webhooks retried until accepted, never sent twice at once by two
processes, and bad requests refused with nothing written."""

from __future__ import annotations

import base64
import itertools
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg2
import pytest

from contracts.webhooks import SIGNATURE_HEADER, verify
from payment_provider.domain.brcode import has_valid_crc, parse_fields
from tests.support import ManagedProcess, free_port, scratch_database, sqlalchemy_url, wait_for

pytestmark = pytest.mark.integration

API_KEY = "test-provider-key"
SECRET = "test-webhook-secret"
MERCHANT = {"Authorization": f"Bearer {API_KEY}"}


# -- a merchant's webhook endpoint ------------------------------------------------------------


@dataclass
class Received:
    """One webhook request as it reached the receiver, and what the receiver answered."""

    webhook_id: str
    body: bytes
    signature: str | None
    answered: int
    at: float  # time.monotonic()


@dataclass
class WebhookReceiver:
    """A real HTTP server: fails each webhook id ``fail_first`` times, then answers 200."""

    fail_first: int = 0
    latency: float = 0.0  # seconds each answer takes: makes concurrent sends overlap
    received: list[Received] = field(default_factory=list)
    overlapping: list[str] = field(default_factory=list)  # ids received while in flight
    _in_flight: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                webhook_id = orjson.loads(body)["id"]
                with receiver._lock:
                    if webhook_id in receiver._in_flight:
                        receiver.overlapping.append(webhook_id)
                    receiver._in_flight.add(webhook_id)
                    seen = sum(1 for r in receiver.received if r.webhook_id == webhook_id)
                if receiver.latency:
                    time.sleep(receiver.latency)  # the merchant's work, not synchronisation
                status = 500 if seen < receiver.fail_first else 200
                with receiver._lock:
                    receiver._in_flight.discard(webhook_id)
                    receiver.received.append(
                        Received(
                            webhook_id=webhook_id,
                            body=body,
                            signature=self.headers.get(SIGNATURE_HEADER),
                            answered=status,
                            at=time.monotonic(),
                        )
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/webhooks/provider"

    def accepted(self) -> list[dict[str, Any]]:
        """Bodies of the webhooks answered 200, in arrival order."""
        with self._lock:
            return [orjson.loads(r.body) for r in self.received if r.answered == 200]

    def attempts_of(self, webhook_id: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.webhook_id == webhook_id]

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


# -- the provider process -----------------------------------------------------------------------


@dataclass
class Provider:
    """A running provider process and its database."""

    process: ManagedProcess
    database_url: str  # libpq

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.process.http_port}"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10.0)

    def query(self, statement: str, *parameters: Any) -> list[tuple[Any, ...]]:
        with psycopg2.connect(self.database_url) as conn, conn.cursor() as cur:
            cur.execute(statement, parameters)
            rows = cur.fetchall()
        conn.close()
        return rows

    def count(self, table: str) -> int:
        return int(self.query(f"SELECT count(*) FROM {table}")[0][0])

    def webhook_row(self, charge_id: str, event_type: str) -> tuple[Any, ...] | None:
        rows = self.query(
            "SELECT webhook_id::text, status, attempts, last_status FROM webhook_outbox"
            " WHERE charge_id = %s AND event_type = %s",
            charge_id,
            event_type,
        )
        return rows[0] if rows else None


ProviderFactory = Callable[..., Provider]


def start_provider(database_url: str, log_path: Path, **settings: Any) -> Provider:
    port = free_port()
    env = {
        "PROVIDER_PORT": str(port),
        "PROVIDER_DATABASE_URL": sqlalchemy_url(database_url),
        "PROVIDER_API_KEY": API_KEY,
        "PROVIDER_WEBHOOK_SECRET": SECRET,
        # Charges of these tests name their own receiver; nothing listens here.
        "PROVIDER_WEBHOOK_URL": f"http://127.0.0.1:{free_port()}/unused",
        "PROVIDER_WEBHOOK_RETRY_INITIAL_SECONDS": "0.2",
        "PROVIDER_WEBHOOK_RETRY_MAX_SECONDS": "1",
        "PROVIDER_EXPIRY_SCAN_SECONDS": "0.2",
        "PROVIDER_WEBHOOK_IDLE_POLL_SECONDS": "0.5",
    }
    env.update({f"PROVIDER_{key.upper()}": str(value) for key, value in settings.items()})
    process = ManagedProcess(
        [sys.executable, "-m", "payment_provider"], env, log_path, http_port=port
    ).start()
    wait_for(
        lambda: (
            (process.health() or {}).get("status") == "ok"
            or (process.process is not None and process.process.poll() is not None)
        ),
        timeout=60,
        what="the provider to answer /health",
    )
    assert process.process is not None and process.process.poll() is None, process.output()
    return Provider(process=process, database_url=database_url)


@contextmanager
def provider_processes(log_dir: Path) -> Iterator[ProviderFactory]:
    """Start providers on one fresh database; each must stop cleanly on SIGTERM."""
    started: list[Provider] = []
    with scratch_database("provider", migrations="payment_provider") as url:

        def start(**settings: Any) -> Provider:
            provider = start_provider(url, log_dir / f"provider-{len(started)}.log", **settings)
            started.append(provider)
            return provider

        try:
            yield start
        finally:
            codes = [p.process.stop() for p in started]
        # uvicorn re-raises the SIGTERM after its graceful shutdown; the lifespan's last line
        # says the workers were joined and the pool closed.
        for provider, code in zip(started, codes, strict=True):
            output = provider.process.output()
            assert code in (0, -signal.SIGTERM), output[-3000:]
            assert '"event":"service_stopped"' in output, output[-3000:]


@pytest.fixture(scope="module")
def provider(engines: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """One provider for the tests that need no special settings (each uses its own keys and
    compares counts before and after, never absolute numbers)."""
    with provider_processes(tmp_path_factory.mktemp("provider")) as start:
        yield start()


@pytest.fixture
def providers(engines: None, artifacts: Path) -> Iterator[ProviderFactory]:
    """Providers of one test, on a database of their own."""
    with provider_processes(artifacts) as start:
        yield start


@dataclass(frozen=True)
class Counts:
    """Rows per table at one moment."""

    charges: int
    idempotency_keys: int
    webhook_outbox: int

    @classmethod
    def of(cls, provider: Provider) -> Counts:
        return cls(*(provider.count(t) for t in ("charges", "idempotency_keys", "webhook_outbox")))


def create(
    client: httpx.Client,
    key: str,
    *,
    receiver: WebhookReceiver | None = None,
    **body: Any,
) -> httpx.Response:
    request = {"amount": "42.50", "currency": "BRL", "expires_in_seconds": 600, **body}
    if receiver is not None:
        request["notification_url"] = receiver.url
    return client.post("/charges", json=request, headers={**MERCHANT, "Idempotency-Key": key})


def delivered(provider: Provider, charge_id: str, event_type: str) -> tuple[Any, ...] | None:
    row = provider.webhook_row(charge_id, event_type)
    return row if row is not None and row[1] == "delivered" else None


# -- tests ---------------------------------------------------------------------------------------


def test_the_same_key_returns_the_same_charge_and_another_body_is_refused(
    provider: Provider,
) -> None:
    key = f"order-{uuid.uuid4()}"
    before = Counts.of(provider)
    with provider.client() as client:
        first = create(client, key, reference="order-1", description="Order 1")
        again = create(client, key, reference="order-1", description="Order 1")
        other = create(client, key, reference="order-1", description="Order 1", amount="42.51")
    assert first.status_code == 201, first.text
    assert again.status_code == 200
    assert again.json()["charge_id"] == first.json()["charge_id"]
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()["detail"]
    assert "amount" in other.json()["detail"]
    assert Counts.of(provider).charges == before.charges + 1


def test_racing_requests_with_one_key_make_one_charge(provider: Provider) -> None:
    key = f"race-{uuid.uuid4()}"
    before = Counts.of(provider)
    with provider.client() as client, ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: create(client, key), range(8)))
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    assert len({r.json()["charge_id"] for r in responses}) == 1
    assert Counts.of(provider).charges == before.charges + 1


def test_a_charge_carries_a_pix_payload_and_its_qr_image(provider: Provider) -> None:
    with provider.client() as client:
        charge = create(client, f"qr-{uuid.uuid4()}", amount="1234.5").json()
    assert charge["status"] == "pending"
    assert charge["amount"] == "1234.50"
    assert charge["currency"] == "BRL"
    payload = charge["qr_code"]
    assert has_valid_crc(payload)
    fields = parse_fields(payload)
    assert fields["54"] == "1234.50"
    assert fields["53"] == "986"
    assert parse_fields(fields["26"])["00"] == "br.gov.bcb.pix"
    txid = parse_fields(fields["62"])["05"]
    assert txid == uuid.UUID(charge["charge_id"]).hex[:25]
    prefix = "data:image/png;base64,"
    assert charge["qr_code_png"].startswith(prefix)
    assert base64.b64decode(charge["qr_code_png"][len(prefix) :]).startswith(b"\x89PNG\r\n\x1a\n")


def test_pay_and_refund_once_each_with_signed_webhooks(
    provider: Provider, receiver: WebhookReceiver
) -> None:
    with provider.client() as client:
        charge = create(
            client, f"pay-{uuid.uuid4()}", receiver=receiver, reference="order-7"
        ).json()
        charge_id = charge["charge_id"]
        refused = client.post(
            f"/charges/{charge_id}/refund", headers={**MERCHANT, "Idempotency-Key": "r0"}
        )
        assert refused.status_code == 409, refused.text
        paid = client.post(f"/charges/{charge_id}/pay", json={"amount": "42.50"})
        assert paid.status_code == 200, paid.text
        assert paid.json()["status"] == "paid"
        again = client.post(f"/charges/{charge_id}/pay")
        assert again.status_code == 200
        assert again.json()["paid_at"] == paid.json()["paid_at"]

        wait_for(lambda: delivered(provider, charge_id, "charge.paid"), what="charge.paid")
        refunds = [
            client.post(
                f"/charges/{charge_id}/refund", headers={**MERCHANT, "Idempotency-Key": key}
            )
            for key in ("refund-1", "refund-1", "refund-2")
        ]
        assert [r.status_code for r in refunds] == [200, 200, 200]
        assert {r.json()["status"] for r in refunds} == {"refunded"}
        assert len({r.json()["refunded_at"] for r in refunds}) == 1
        # The refund key is the refund of this charge: on another charge it is a conflict.
        other = create(client, f"pay-{uuid.uuid4()}").json()["charge_id"]
        client.post(f"/charges/{other}/pay")
        reused = client.post(
            f"/charges/{other}/refund", headers={**MERCHANT, "Idempotency-Key": "refund-1"}
        )
        assert reused.status_code == 422
        assert client.get(f"/charges/{other}", headers=MERCHANT).json()["status"] == "paid"
        assert client.post(f"/charges/{charge_id}/pay").status_code == 409
        read = client.get(f"/charges/{charge_id}", headers=MERCHANT).json()
        assert read["status"] == "refunded"

    wait_for(lambda: delivered(provider, charge_id, "charge.refunded"), what="charge.refunded")
    bodies = receiver.accepted()
    assert [b["type"] for b in bodies] == ["charge.paid", "charge.refunded"]
    assert {b["charge_id"] for b in bodies} == {charge_id}
    assert bodies[0]["amount"] == "42.50"
    assert bodies[0]["currency"] == "BRL"
    assert bodies[0]["reference"] == "order-7"
    assert len({b["id"] for b in bodies}) == 2
    for attempt in receiver.received:
        assert verify(SECRET, attempt.signature, attempt.body, now=time.time())
    assert provider.process.metric("provider_webhooks_delivered_total", type="charge.paid") >= 1
    assert provider.process.metric("provider_charges_total", status="refunded") >= 1


def test_a_failing_receiver_gets_the_webhook_again_until_it_accepts(
    provider: Provider, receiver: WebhookReceiver
) -> None:
    receiver.fail_first = 3
    with provider.client() as client:
        charge_id = create(client, f"retry-{uuid.uuid4()}", receiver=receiver).json()["charge_id"]
        assert client.post(f"/charges/{charge_id}/pay").status_code == 200

    row = wait_for(lambda: delivered(provider, charge_id, "charge.paid"), what="delivery")
    webhook_id, _, attempts, last_status = row
    tries = receiver.attempts_of(webhook_id)
    assert [t.answered for t in tries] == [500, 500, 500, 200]
    assert attempts == 4
    assert last_status == 200
    # The same webhook (same id and body) every time, each attempt signed on its own.
    assert len({t.body for t in tries}) == 1
    for attempt in tries:
        assert verify(SECRET, attempt.signature, attempt.body, now=time.time())
    # Backed off in between: never sooner than half the doubling step (0.2 s, 0.4 s, 0.8 s).
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(tries)]
    assert all(gap >= minimum for gap, minimum in zip(gaps, [0.1, 0.2, 0.4], strict=True)), gaps
    assert (
        provider.process.metric("provider_webhook_attempts_failed_total", type="charge.paid") >= 3
    )


def test_charges_expire_on_schedule_and_cannot_be_paid_after(
    provider: Provider, receiver: WebhookReceiver
) -> None:
    with provider.client() as client:
        charge_id = create(
            client, f"exp-{uuid.uuid4()}", receiver=receiver, expires_in_seconds=1
        ).json()["charge_id"]
        # The worker expires it, with nobody reading it.
        wait_for(
            lambda: (
                provider.query("SELECT status FROM charges WHERE charge_id = %s", charge_id)
                == [("expired",)]
            ),
            what="the expiry worker",
        )
        paid = client.post(f"/charges/{charge_id}/pay")
    assert paid.status_code == 409
    assert "expired" in paid.json()["detail"]
    wait_for(lambda: delivered(provider, charge_id, "charge.expired"), what="charge.expired")
    assert [b["type"] for b in receiver.accepted()] == ["charge.expired"]


def test_a_late_expiry_worker_never_lets_an_expired_charge_be_paid(
    providers: ProviderFactory, receiver: WebhookReceiver
) -> None:
    provider = providers(expiry_scan_seconds=60)  # one pass at start, the next a minute later
    with provider.client() as client:
        created = create(client, "late-1", receiver=receiver, expires_in_seconds=1).json()
        charge_id = created["charge_id"]
        expires_at = datetime.fromisoformat(created["expires_at"])
        # Nobody reads the charge and the worker is asleep: only the clock moves on.
        wait_for(lambda: datetime.now(UTC) > expires_at, what="the charge's expiry time")
        paid = client.post(f"/charges/{charge_id}/pay")
    assert paid.status_code == 409
    assert "expired" in paid.json()["detail"]
    assert provider.query("SELECT status FROM charges WHERE charge_id = %s", charge_id) == [
        ("expired",)
    ]
    wait_for(lambda: delivered(provider, charge_id, "charge.expired"), what="charge.expired")


def test_the_merchant_cancels_a_pending_charge_which_then_cannot_be_paid(
    provider: Provider, receiver: WebhookReceiver
) -> None:
    with provider.client() as client:
        charge_id = create(client, f"cancel-{uuid.uuid4()}", receiver=receiver).json()["charge_id"]
        cancels = [client.post(f"/charges/{charge_id}/cancel", headers=MERCHANT) for _ in "ab"]
        assert [c.status_code for c in cancels] == [200, 200], cancels[0].text
        assert {c.json()["status"] for c in cancels} == {"cancelled"}
        assert len({c.json()["cancelled_at"] for c in cancels}) == 1
        paid = client.post(f"/charges/{charge_id}/pay")
        assert paid.status_code == 409
        assert "cancelled" in paid.json()["detail"]
        assert client.post(f"/charges/{charge_id}/cancel").status_code == 401
        other = create(client, f"cancel-{uuid.uuid4()}").json()["charge_id"]
        assert client.post(f"/charges/{other}/pay").status_code == 200
        refused = client.post(f"/charges/{other}/cancel", headers=MERCHANT)
        assert refused.status_code == 409
        assert "refund" in refused.json()["detail"]
        unknown = client.post(f"/charges/{uuid.uuid4()}/cancel", headers=MERCHANT)
        assert unknown.status_code == 404
    assert provider.webhook_row(charge_id, "charge.paid") is None
    assert receiver.received == []


def test_the_merchant_endpoints_need_the_api_key(provider: Provider) -> None:
    charge_id = str(uuid.uuid4())
    body = {"amount": "10.00", "currency": "BRL", "expires_in_seconds": 60}
    before = Counts.of(provider)
    with provider.client() as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": API_KEY}):
            responses = [
                client.post("/charges", json=body, headers={**headers, "Idempotency-Key": "a"}),
                client.get(f"/charges/{charge_id}", headers=headers),
                client.get("/charges", params={"reference": "x"}, headers=headers),
                client.post(
                    f"/charges/{charge_id}/refund", headers={**headers, "Idempotency-Key": "b"}
                ),
            ]
            assert [r.status_code for r in responses] == [401] * 4, headers
            assert all(r.headers["www-authenticate"].startswith("Bearer") for r in responses)
        # The payer's bank has no merchant key: its call is judged on the charge alone.
        assert client.post(f"/charges/{charge_id}/pay").status_code == 404
    assert Counts.of(provider) == before


@pytest.mark.parametrize(
    ("changes", "headers", "field"),
    [
        ({"amount": "10.001"}, {}, "amount"),
        ({"amount": "-5"}, {}, "amount"),
        ({"amount": "abc"}, {}, "amount"),
        ({"amount": "10000000000.00"}, {}, "amount"),
        ({"currency": "USD"}, {}, "currency"),
        ({"expires_in_seconds": 0}, {}, "expires_in_seconds"),
        ({"expires_in_seconds": 10**9}, {}, "expires_in_seconds"),
        ({"expires_in_seconds": "60"}, {}, "expires_in_seconds"),
        ({"notification_url": "ftp://merchant.example/hook"}, {}, "notification_url"),
        ({"reference": "r" * 101}, {}, "reference"),
        ({"surprise": 1}, {}, "surprise"),
        ({}, {"Idempotency-Key": None}, "Idempotency-Key"),
        ({}, {"Idempotency-Key": "has space"}, "Idempotency-Key"),
        ({}, {"Idempotency-Key": "k" * 256}, "Idempotency-Key"),
    ],
)
def test_bad_input_is_422_naming_the_field_and_writes_nothing(
    provider: Provider, changes: dict[str, Any], headers: dict[str, Any], field: str
) -> None:
    body = {"amount": "10.00", "currency": "BRL", "expires_in_seconds": 60, **changes}
    sent = {**MERCHANT, "Idempotency-Key": f"bad-input-{uuid.uuid4()}", **headers}
    before = Counts.of(provider)
    with provider.client() as client:
        response = client.post(
            "/charges", json=body, headers={k: v for k, v in sent.items() if v is not None}
        )
    assert response.status_code == 422, response.text
    assert field in str(response.json()["detail"])
    assert Counts.of(provider) == before


def test_other_bad_requests(provider: Provider) -> None:
    before = Counts.of(provider)
    with provider.client() as client:
        not_json = client.post(
            "/charges",
            content=b"{not json",
            headers={**MERCHANT, "Idempotency-Key": "x", "Content-Type": "application/json"},
        )
        assert not_json.status_code == 422
        assert client.get("/charges/not-a-uuid", headers=MERCHANT).status_code == 422
        assert client.get(f"/charges/{uuid.uuid4()}", headers=MERCHANT).status_code == 404
        charge_id = create(client, f"amount-{uuid.uuid4()}").json()["charge_id"]
        wrong = client.post(f"/charges/{charge_id}/pay", json={"amount": "42.49"})
        assert wrong.status_code == 422
        assert "amount" in wrong.json()["detail"]
        status = client.get(f"/charges/{charge_id}", headers=MERCHANT).json()["status"]
        assert status == "pending"
    assert Counts.of(provider).webhook_outbox == before.webhook_outbox


def test_two_processes_never_send_one_webhook_twice(providers: ProviderFactory) -> None:
    receiver = WebhookReceiver(latency=0.02).start()
    try:
        first = providers(webhook_workers=4)
        second = providers(webhook_workers=4)
        with first.client() as a, second.client() as b:
            charge_ids = [
                create(a, f"many-{n}", receiver=receiver).json()["charge_id"] for n in range(40)
            ]
            for n, charge_id in enumerate(charge_ids):
                assert (a, b)[n % 2].post(f"/charges/{charge_id}/pay").status_code == 200
        wait_for(lambda: len(receiver.accepted()) >= 40, timeout=60, what="40 webhooks")
        wait_for(
            lambda: (
                first.query("SELECT count(*) FROM webhook_outbox WHERE status = 'delivered'")
                == [(40,)]
            ),
            what="40 deliveries recorded",
        )
    finally:
        receiver.stop()
    per_id = Counter(r.webhook_id for r in receiver.received)
    assert len(per_id) == 40
    assert set(per_id.values()) == {1}
    assert receiver.overlapping == []
    assert {b["charge_id"] for b in receiver.accepted()} == set(charge_ids)
