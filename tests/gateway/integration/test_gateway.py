"""The gateway as a real process, in front of real upstream processes
(tests/gateway/integration/echo_app.py) that register in the real Eureka: routing and round
robin, instances leaving gracefully or dying, timeouts, header hygiene, token checks and
streaming.

One gateway serves the module; every test has its own Eureka app names, so tests never see each
other's instances. The JWKS comes from an echo instance (JWKS_URL), holding the public
half of a key the test generates, so the test mints its own access tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from devstack import layout
from gateway.routes import DEFAULT_ROUTES
from servicekit.tokens import AUDIENCE, ISSUER
from tests.gateway.integration.echo_app import stream_chunk
from tests.support import ManagedProcess, TcpForwarder, free_port, wait_for

pytestmark = pytest.mark.integration

READ_TIMEOUT = 1.0  # the gateway's upstream read timeout in these tests
# The registry refuses anonymous calls.
EUREKA_AUTH = (layout.EUREKA_USERNAME, layout.EUREKA_PASSWORD)
KID = "test-key-1"


# -- keys and tokens -------------------------------------------------------------------------


@dataclass(frozen=True)
class Keys:
    private: rsa.RSAPrivateKey
    jwks: dict[str, Any]

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def make_keys() -> Keys:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update(kid=KID, use="sig", alg="RS256")
    return Keys(private, {"keys": [jwk]})


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "sub": str(uuid.uuid4()),
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "roles": ["customer"],
        "email": "someone@example.com",
    }
    base.update(overrides)
    return base


def mint(keys: Keys, *, kid: str = KID, **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), keys.private, algorithm="RS256", headers={"kid": kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"


# -- processes -------------------------------------------------------------------------------


def echo_process(app_name: str, log_dir: Path, *, jwks: dict[str, Any] | None = None) -> Any:
    port = free_port()
    env = {
        "ECHO_APP_NAME": app_name,
        "ECHO_PORT": str(port),
        "ECHO_INSTANCE": f"{app_name.lower()}-{port}",
        "EUREKA_URL": layout.EUREKA_URL,
    }
    if jwks is not None:
        env["ECHO_JWKS"] = json.dumps(jwks)
    process = ManagedProcess(
        [sys.executable, "-m", "tests.gateway.integration.echo_app"],
        env,
        log_dir / f"echo-{port}.log",
        http_port=port,
    )
    process.instance_id = env["ECHO_INSTANCE"]  # type: ignore[attr-defined]
    return process


def start_healthy(*processes: ManagedProcess) -> None:
    """Start them and wait until each answers /health itself (an echo instance names itself:
    another process on its port is not it)."""
    for process in processes:
        process.start()
    for process in processes:
        expected = getattr(process, "instance_id", None)

        def answers(process: ManagedProcess = process, expected: str | None = expected) -> bool:
            health = process.health()
            return health is not None and expected in (None, health.get("instance"))

        wait_for(answers, timeout=30, what=f"{process.log_path.name} to answer /health")


def stop_all(*processes: ManagedProcess) -> None:
    for process in processes:
        if process.process is not None:
            process.stop()


def eureka_answers() -> bool:
    try:
        return httpx.get(f"{layout.EUREKA_URL}/apps", auth=EUREKA_AUTH, timeout=2).is_success
    except httpx.HTTPError:
        return False


@dataclass
class Stack:
    gateway: ManagedProcess
    url: str
    keys: Keys
    echo: str  # app name behind /api/echo, /api/products and /api/auth
    echo_instances: list[Any]
    apps: dict[str, str]  # route name -> app name, for the tests that start their own
    log_dir: Path

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=kwargs.pop("timeout", 10.0), **kwargs)

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint(self.keys)}"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not eureka_answers():
        pytest.fail("Eureka not running: run the suite with `make test`")
    log_dir = tmp_path_factory.mktemp("gateway")
    tag = uuid.uuid4().hex[:8].upper()
    echo = f"ECHO-{tag}"
    apps = {name: f"{name.upper()}-{tag}" for name in ("term", "kill", "ghost", "drop")}
    keys = make_keys()
    # /api/products and /api/auth lead to the echo app too, so the public rules are tested on
    # the real paths without the real services.
    routes = {
        **DEFAULT_ROUTES,
        "/api/echo": echo,
        "/api/products": echo,
        "/api/auth": echo,
        **{f"/api/{name}": app for name, app in apps.items()},
    }
    instances = [echo_process(echo, log_dir, jwks=keys.jwks) for _ in range(2)]
    port = free_port()
    gateway = ManagedProcess(
        [sys.executable, "-m", "gateway"],
        {
            "GATEWAY_PORT": str(port),
            "GATEWAY_ROUTES": json.dumps(routes),
            "JWKS_URL": f"http://127.0.0.1:{instances[0].http_port}/jwks.json",
            "GATEWAY_UPSTREAM_READ_TIMEOUT_SECONDS": str(READ_TIMEOUT),
            # Long enough that a dead instance stays in cool-down for the whole test.
            "GATEWAY_INSTANCE_COOLDOWN_SECONDS": "60",
            # Room for the 32 MiB upload of test_large_bodies_stream_through_intact (the limits
            # themselves: test_gateway_limits.py).
            "GATEWAY_MAX_BODY_BYTES": str(64 * 1024 * 1024),
            "GATEWAY_ACCESS_LOG": "all",
            "EUREKA_URL": layout.EUREKA_URL,
            "EUREKA_REGISTRY_REFRESH_SECONDS": "0.5",
        },
        log_dir / "gateway.log",
        http_port=port,
    )
    built = Stack(gateway, f"http://127.0.0.1:{port}", keys, echo, instances, apps, log_dir)
    try:
        start_healthy(*instances)
        gateway.start()
        wait_for(lambda: (gateway.health() or {}).get("status") == "ok", timeout=30)
        wait_until_routed(built, "/api/echo/ping", {i.instance_id for i in instances})
        yield built
    finally:
        stop_all(gateway, *instances)


def wait_until_routed(stack: Stack, path: str, expected: set[str], timeout: float = 30) -> None:
    """Poll through the gateway until every expected instance has answered."""
    seen: set[str] = set()
    with stack.client() as client:

        def all_seen() -> bool:
            response = client.get(path, headers=stack.auth())
            if response.status_code == 200:
                seen.add(response.json()["instance"])
            return expected <= seen

        try:
            wait_for(all_seen, timeout=timeout, what=f"{sorted(expected)} behind {path}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; answered: {sorted(seen)}") from None


def fail_with_logs(stack: Stack, message: str) -> str:
    return f"{message}\n--- gateway log ---\n{stack.gateway.output()[-4000:]}"


# -- routing and instances -------------------------------------------------------------------


def test_round_robin_sends_traffic_to_both_instances(stack: Stack) -> None:
    with stack.client() as client:
        responses = [client.get(f"/api/echo/rr/{i}", headers=stack.auth()) for i in range(20)]
    assert [r.status_code for r in responses] == [200] * 20
    counts = Counter(r.json()["instance"] for r in responses)
    assert set(counts) == {i.instance_id for i in stack.echo_instances}
    assert min(counts.values()) >= 8, counts
    assert all(r.json()["path"] == f"/api/echo/rr/{i}" for i, r in enumerate(responses))


def test_sigterm_of_one_instance_causes_no_error(stack: Stack) -> None:
    app = stack.apps["term"]
    leaving, staying = echo_process(app, stack.log_dir), echo_process(app, stack.log_dir)
    try:
        start_healthy(leaving, staying)
        wait_until_routed(stack, "/api/term/x", {leaving.instance_id, staying.instance_id})
        results: list[tuple[int, str]] = []
        stop = threading.Event()

        def traffic() -> None:
            with stack.client() as client:
                while not stop.is_set():
                    response = client.get("/api/term/x", headers=stack.auth())
                    results.append((response.status_code, response.text))

        thread = threading.Thread(target=traffic)
        thread.start()
        try:
            wait_for(lambda: len(results) >= 20, what="traffic before the stop")
            # uvicorn finishes its graceful shutdown, then re-raises the signal it caught.
            assert leaving.stop() in (0, -signal.SIGTERM)
            before = len(results)
            # The gateway learns of the departure from Eureka; traffic keeps flowing meanwhile.
            wait_for(
                lambda: stack.gateway.metric("gateway_upstream_instances", service=app) == 1,
                what="the gateway to see the instance leave",
            )
            wait_for(lambda: len(results) >= before + 50, what="traffic after the stop")
        finally:
            stop.set()
            thread.join(30)
        failures = [(status, body) for status, body in results if status != 200]
        assert not failures, fail_with_logs(stack, f"errors during SIGTERM: {failures[:3]}")
        after = [json.loads(body)["instance"] for _, body in results[before:]]
        assert after[-20:] == [staying.instance_id] * 20
    finally:
        stop_all(leaving, staying)


def test_sigkilled_instance_still_registered_is_skipped(stack: Stack) -> None:
    app = stack.apps["kill"]
    dead, alive = echo_process(app, stack.log_dir), echo_process(app, stack.log_dir)
    try:
        start_healthy(dead, alive)
        wait_until_routed(stack, "/api/kill/x", {dead.instance_id, alive.instance_id})
        dead.kill9()  # no deregistration: Eureka keeps listing it until its lease expires
        with stack.client() as client:
            gets = [client.get(f"/api/kill/{i}", headers=stack.auth()) for i in range(20)]
            # A refused connection means the request never left: POST may go elsewhere too.
            posts = [
                client.post("/api/kill/p", headers=stack.auth(), content=b"x") for _ in range(4)
            ]
        assert [r.status_code for r in gets + posts] == [200] * 24, fail_with_logs(stack, "")
        assert {r.json()["instance"] for r in gets + posts} == {alive.instance_id}
        assert stack.gateway.metric("gateway_upstream_instances", service=app) == 2
        # Skipped after the first refusal: the cool-down spares every later request the retry.
        refused = stack.gateway.metric("gateway_upstream_errors_total", service=app, kind="connect")
        assert 1 <= refused <= 2

        alive.kill9()
        started = time.monotonic()
        with stack.client() as client:
            response = client.get("/api/kill/last", headers=stack.auth())
        assert response.status_code == 503
        assert response.json() == {"detail": f"no instance of {app} could be reached"}
        assert time.monotonic() - started < 2
    finally:
        stop_all(dead, alive)


def test_no_instance_answers_503_quickly(stack: Stack) -> None:
    app = stack.apps["ghost"]
    started = time.monotonic()
    with stack.client() as client:
        response = client.get("/api/ghost/anything", headers=stack.auth())
    # Answered from the registry view alone: no connect attempt, no wait (2 s: a loaded CI box).
    assert time.monotonic() - started < 2
    assert response.status_code == 503
    assert response.json() == {"detail": f"no instance of {app} is available"}


def test_slow_upstream_answers_504(stack: Stack) -> None:
    started = time.monotonic()
    with stack.client() as client:
        response = client.get("/api/echo/slow", params={"seconds": 5}, headers=stack.auth())
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert response.json() == {"detail": f"{stack.echo} did not answer in time"}
    assert READ_TIMEOUT <= elapsed < READ_TIMEOUT + 2


def test_upstream_that_drops_a_kept_alive_connection_costs_no_later_request(
    stack: Stack,
) -> None:
    """An upstream that answers 500 and then closes the kept-alive connection as the next
    request arrives: that request is sent again on a fresh connection, never answered 502."""
    port = free_port()
    upstream = ManagedProcess(
        [sys.executable, "-m", "tests.gateway.integration.dropping_upstream"],
        {
            "DROP_APP_NAME": stack.apps["drop"],
            "DROP_PORT": str(port),
            "EUREKA_URL": layout.EUREKA_URL,
        },
        stack.log_dir / f"drop-{port}.log",
        http_port=port,
    )
    try:
        start_healthy(upstream)
        with stack.client() as client:
            wait_for(
                lambda: client.get("/api/drop/ping", headers=stack.auth()).status_code == 200,
                timeout=30,
                what="the dropping upstream behind /api/drop",
            )
            for index in range(3):
                failed = client.post("/api/drop/fail", headers=stack.auth())
                assert failed.status_code == 500
                after = client.post("/api/drop/after", headers=stack.auth(), json={"n": index})
                assert after.status_code == 200, fail_with_logs(stack, after.text)
                assert json.loads(after.json()["body"]) == {"n": index}
    finally:
        stop_all(upstream)


def test_unknown_api_path_is_404(stack: Stack) -> None:
    with stack.client() as client:
        for path in ("/api/nothing-here", "/api", "/api/echoes/1"):
            response = client.get(path, headers=stack.auth())
            assert response.status_code == 404, path
            assert response.json() == {"detail": "no route for this path"}
    # Dot segments, sent as they are (httpx would resolve them first), also encoded.
    for path in ("/api/products/../orders", "/api/products/%2E%2E/orders", "/api/echo/./x"):
        connection = http.client.HTTPConnection("127.0.0.1", stack.gateway.http_port, timeout=5)
        try:
            connection.request("GET", path)
            raw = connection.getresponse()
            assert raw.status == 404, path
            assert json.loads(raw.read()) == {"detail": "no route for this path"}
        finally:
            connection.close()


# -- headers ---------------------------------------------------------------------------------


def test_identity_headers_are_stripped_and_authorization_forwarded(stack: Stack) -> None:
    token = mint(stack.keys)
    with stack.client() as client:
        response = client.get(
            "/api/echo/headers",
            headers={
                "Authorization": f"Bearer {token}",
                "X-User-Id": "00000000-0000-0000-0000-000000000001",
                "X-User-Roles": "admin",
                "X-User-Email": "root@example.com",
                "X-User-Anything": "x",
                "X-Authenticated-User": "admin",
                "X-Forwarded-User": "admin",
                "X-Forwarded-For": "198.51.100.1",
                "Connection": "keep-alive, X-Hop",
                "X-Hop": "hop",
                "Accept": "application/json",
            },
        )
    assert response.status_code == 200
    seen = {name: value for name, value in response.json()["headers"]}
    assert not [n for n in seen if n.startswith(("x-user", "x-authenticated", "x-forwarded-user"))]
    assert "x-hop" not in seen
    assert seen["authorization"] == f"Bearer {token}"
    assert seen["x-forwarded-for"] == "198.51.100.1, 127.0.0.1"
    assert seen["accept"] == "application/json"
    assert seen["traceparent"].startswith("00-")


def test_request_id_is_generated_passed_on_and_echoed(stack: Stack) -> None:
    with stack.client() as client:
        fresh = client.get("/api/echo/ids", headers=stack.auth())
        chosen = client.get(
            "/api/echo/ids",
            headers={
                **stack.auth(),
                "X-Request-ID": "client-req-1",
                "X-Correlation-ID": "saga-77",
                "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            },
        )
        refused = client.get("/api/echo/ids")
    generated = fresh.headers["x-request-id"]
    assert len(generated) == 32
    upstream = dict(fresh.json()["headers"])
    assert upstream["x-request-id"] == generated
    assert upstream["x-correlation-id"] == generated

    assert chosen.headers["x-request-id"] == "client-req-1"
    upstream = dict(chosen.json()["headers"])
    assert (upstream["x-request-id"], upstream["x-correlation-id"]) == ("client-req-1", "saga-77")
    assert upstream["traceparent"] == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    assert refused.status_code == 401
    assert len(refused.headers["x-request-id"]) == 32


# -- tokens ----------------------------------------------------------------------------------


def _refused_tokens(keys: Keys) -> dict[str, str | None]:
    valid = mint(keys)
    header, payload, signature = valid.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[10] ^= 0x01
    hs_header = {"alg": "HS256", "typ": "JWT", "kid": KID}
    hs_input = unsigned_token(hs_header, claims())
    hs_signature = hmac.new(keys.public_pem, hs_input.encode(), hashlib.sha256).digest()
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "none": None,
        "alg_none": unsigned_token({"alg": "none", "typ": "JWT", "kid": KID}, claims()) + ".",
        "hs256_with_public_key": f"{hs_input}.{b64(hs_signature)}",
        "expired": mint(keys, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
        "wrong_audience": mint(keys, aud="another-platform"),
        "wrong_issuer": mint(keys, iss="someone-else"),
        "unknown_kid": mint(keys, kid="not-a-key-we-know"),
        "flipped_signature_byte": f"{header}.{payload}.{b64(bytes(raw))}",
        "signed_by_another_key": jwt.encode(
            claims(), other_key, algorithm="RS256", headers={"kid": KID}
        ),
        "garbage": "not.a.token",
    }


@pytest.mark.parametrize(
    "case",
    [
        "none",
        "alg_none",
        "hs256_with_public_key",
        "expired",
        "wrong_audience",
        "wrong_issuer",
        "unknown_kid",
        "flipped_signature_byte",
        "signed_by_another_key",
        "garbage",
    ],
)
def test_bad_tokens_are_refused_with_401(stack: Stack, case: str) -> None:
    token = _refused_tokens(stack.keys)[case]
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    with stack.client() as client:
        response = client.get("/api/echo/protected", headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert isinstance(response.json()["detail"], str)
    assert "instance" not in response.json()  # answered by the gateway, not the upstream


def test_keys_that_cannot_be_fetched_answer_503_until_they_can(stack: Stack) -> None:
    """A gateway that starts while the JWKS cannot be fetched answers valid tokens 503 with
    Retry-After (never 401, which clients treat as final), and serves them once the keys load;
    an unknown kid is still refused once it can be told."""
    keys_server = echo_process(
        f"JWKS-{uuid.uuid4().hex[:8].upper()}", stack.log_dir, jwks=stack.keys.jwks
    )
    port = free_port()
    routes = {**DEFAULT_ROUTES, "/api/echo": stack.echo}
    gateway = ManagedProcess(
        [sys.executable, "-m", "gateway"],
        {
            "GATEWAY_PORT": str(port),
            "GATEWAY_ROUTES": json.dumps(routes),
            "JWKS_URL": f"http://127.0.0.1:{keys_server.http_port}/jwks.json",
            "EUREKA_URL": layout.EUREKA_URL,
            "EUREKA_REGISTRY_REFRESH_SECONDS": "0.5",
        },
        stack.log_dir / f"gateway-{port}.log",
        http_port=port,
    )
    try:
        gateway.start()
        wait_for(lambda: (gateway.health() or {}).get("status") == "ok", timeout=30)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            refused = client.get("/api/echo/ping", headers=stack.auth())
            assert refused.status_code == 503, refused.text
            assert int(refused.headers["retry-after"]) > 0
            start_healthy(keys_server)
            wait_for(
                lambda: client.get("/api/echo/ping", headers=stack.auth()).status_code == 200,
                timeout=30,
                what="the gateway to load the keys once they can be fetched",
            )
            forged = mint(stack.keys, kid="not-a-key-of-ours")
            unknown = client.get("/api/echo/ping", headers={"Authorization": f"Bearer {forged}"})
            assert unknown.status_code == 401, unknown.text
    finally:
        stop_all(gateway, keys_server)


def test_gateway_started_while_eureka_is_down_answers_503_then_serves(stack: Stack) -> None:
    """Eureka unreachable when the gateway starts (a port where nothing listens yet, forwarded
    to the real Eureka later): a valid token gets 503, never 401, and the same request succeeds
    once Eureka is back."""
    eureka = TcpForwarder(("127.0.0.1", 8761))
    port = free_port()
    gateway = ManagedProcess(
        [sys.executable, "-m", "gateway"],
        {
            "GATEWAY_PORT": str(port),
            "GATEWAY_ROUTES": json.dumps({**DEFAULT_ROUTES, "/api/echo": stack.echo}),
            "JWKS_URL": f"http://127.0.0.1:{stack.echo_instances[0].http_port}/jwks.json",
            "EUREKA_URL": f"http://127.0.0.1:{eureka.port}/eureka",
            "EUREKA_REGISTRY_REFRESH_SECONDS": "0.5",
            "EUREKA_ENABLED": "false",
        },
        stack.log_dir / f"gateway-{port}.log",
        http_port=port,
    )
    try:
        gateway.start()
        wait_for(lambda: gateway.health() is not None, timeout=30, what="the gateway to answer")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            refused = client.get("/api/echo/ping", headers=stack.auth())
            assert refused.status_code == 503, refused.text
            eureka.open()
            wait_for(
                lambda: client.get("/api/echo/ping", headers=stack.auth()).status_code == 200,
                timeout=30,
                what="the gateway to route once Eureka answers",
            )
    finally:
        stop_all(gateway)
        eureka.close()


def test_valid_token_passes(stack: Stack) -> None:
    with stack.client() as client:
        response = client.get("/api/echo/protected", headers=stack.auth())
    assert response.status_code == 200
    assert response.json()["path"] == "/api/echo/protected"


def test_public_routes_need_no_token(stack: Stack) -> None:
    with stack.client() as client:
        for method, path in (
            ("GET", "/api/products"),
            ("GET", "/api/products/4f1e"),
            ("HEAD", "/api/products/4f1e"),
            ("POST", "/api/auth/login"),
            ("POST", "/api/auth/register"),
            ("GET", "/api/auth/.well-known/jwks.json"),
        ):
            response = client.request(method, path, json={} if method == "POST" else None)
            assert response.status_code == 200, f"{method} {path}: {response.text}"
            assert response.headers["x-echo-instance"]
        for method, path in (("POST", "/api/products"), ("GET", "/api/products/1/secret")):
            assert client.request(method, path).status_code == 401, f"{method} {path}"


# -- streaming -------------------------------------------------------------------------------

BIG_CHUNKS, CHUNK = 512, 64 * 1024  # 32 MiB


def test_large_bodies_stream_through_intact(stack: Stack) -> None:
    upload = hashlib.sha256()

    def body() -> Iterator[bytes]:
        for index in range(BIG_CHUNKS):
            chunk = stream_chunk(index + 7, CHUNK)
            upload.update(chunk)
            yield chunk

    with stack.client(timeout=60) as client:
        sent = client.post("/api/echo/upload", headers=stack.auth(), content=body())
        assert sent.status_code == 200, sent.text
        assert sent.json()["length"] == BIG_CHUNKS * CHUNK
        assert sent.json()["sha256"] == upload.hexdigest()

        expected = hashlib.sha256()
        for index in range(BIG_CHUNKS):
            expected.update(stream_chunk(index, CHUNK))
        received = hashlib.sha256()
        size = 0
        with client.stream(
            "GET",
            "/api/echo/stream",
            params={"chunks": BIG_CHUNKS, "size": CHUNK},
            headers=stack.auth(),
        ) as response:
            assert response.status_code == 200
            for data in response.iter_raw():
                received.update(data)
                size += len(data)
        assert size == BIG_CHUNKS * CHUNK
        assert received.hexdigest() == expected.hexdigest()


def test_response_streams_before_the_upstream_has_finished(stack: Stack, tmp_path: Path) -> None:
    release = tmp_path / "release"
    with (
        stack.client(timeout=10) as client,
        client.stream(
            "GET",
            "/api/echo/stream",
            params={"chunks": 3, "size": 1000, "hold": str(release)},
            headers=stack.auth(),
        ) as response,
    ):
        parts = response.iter_raw()
        # The upstream holds the rest until the file exists: a buffering gateway would
        # deliver nothing here, and the read would time out.
        first = next(parts)
        assert first == stream_chunk(0, 1000)[: len(first)]
        release.touch()
        rest = first + b"".join(parts)
    assert rest == b"".join(stream_chunk(i, 1000) for i in range(3))


def test_request_body_streams_before_the_client_has_finished(stack: Stack, tmp_path: Path) -> None:
    arrived = tmp_path / "arrived"

    def body() -> Iterator[bytes]:
        yield b"a" * 1000
        # The upstream signals once the first chunk reached it: a gateway that buffered the
        # whole body would never forward it, and this wait would fail.
        wait_for(arrived.exists, timeout=10, what="the first chunk to reach the upstream")
        yield b"b" * 1000

    with stack.client(timeout=20) as client:
        response = client.post(
            "/api/echo/upload",
            params={"signal": str(arrived)},
            headers=stack.auth(),
            content=body(),
        )
    assert response.status_code == 200, response.text
    assert response.json()["length"] == 2000
    assert response.json()["sha256"] == hashlib.sha256(b"a" * 1000 + b"b" * 1000).hexdigest()


# -- operations ------------------------------------------------------------------------------


def test_health_docs_metrics_and_registration(stack: Stack) -> None:
    with stack.client() as client:
        health = client.get("/health")
        assert (health.status_code, health.json()["status"]) == (200, "ok")
        # The document itself is the services' (tests/e2e/test_public_api_docs.py).
        assert client.get("/openapi.json").json()["info"]["title"] == "Order platform API"
        assert client.get("/docs").status_code == 200
        metrics = client.get("/metrics").text
    assert f'gateway_upstream_instances{{service="{stack.echo}"}} 2.0' in metrics
    assert "gateway_requests_total" in metrics
    assert "gateway_upstream_duration_seconds_bucket" in metrics

    registered = httpx.get(
        f"{layout.EUREKA_URL}/apps/GATEWAY",
        headers={"Accept": "application/json"},
        auth=EUREKA_AUTH,
        timeout=5,
    ).json()["application"]["instance"]
    port = stack.gateway.http_port
    assert f"127.0.0.1:gateway:{port}" in [i["instanceId"] for i in registered]


def test_tokens_never_reach_the_logs(stack: Stack) -> None:
    token = mint(stack.keys)
    with stack.client() as client:
        client.get("/api/echo/log-check", params={"access_token": token}, headers=stack.auth())
        client.get("/api/echo/log-check", headers={"Authorization": f"Bearer {token}x"})
    log_text = stack.gateway.output()
    assert "log-check" in log_text  # the access lines are there
    assert token not in log_text
    assert token.split(".")[2] not in log_text
