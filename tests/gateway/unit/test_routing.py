"""The gateway's decisions, with fakes: which route and whether it is public, which headers cross,
which instance is tried and when, what is retried, and what the token cache remembers."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from gateway.auth import TokenCheck, watching_key_changes
from gateway.balancer import Balancer
from gateway.headers import forward_request_headers, response_headers, valid_traceparent
from gateway.proxy import Gateway
from gateway.routes import DEFAULT_ROUTES, RouteTable, is_public, is_safe_path, validate_routes
from gateway.settings import GatewaySettings
from gateway.upstream import ConnectFailed, UpstreamBroken, UpstreamTimeout
from servicekit.discovery import ServiceInstance
from servicekit.settings import EurekaSettings
from servicekit.tokens import InvalidToken

# -- routes ----------------------------------------------------------------------------------


def test_route_table_matches_whole_segments_longest_prefix_first() -> None:
    table = RouteTable({**DEFAULT_ROUTES, "/api/orders/archive": "ARCHIVE-SERVICE"})
    assert table.match("/api/orders").service == "ORDER-SERVICE"
    assert table.match("/api/orders/42/cancel").service == "ORDER-SERVICE"
    assert table.match("/api/orders/archive/1").service == "ARCHIVE-SERVICE"
    assert table.match("/api/ordersx") is None
    assert table.match("/api/unknown/1") is None
    assert table.match("/api") is None
    assert table.match("/API/orders") is None


def test_default_routes_cover_every_service() -> None:
    table = RouteTable(DEFAULT_ROUTES)
    assert table.services == sorted(
        f"{name}-SERVICE"
        for name in ("AUTH", "USER", "PRODUCT", "ORDER", "PAYMENT", "NOTIFICATION", "OPS")
    )


@pytest.mark.parametrize("prefix", ["/orders", "/api", "/api/", "/api/a b", "api/orders"])
def test_route_prefixes_outside_api_are_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="must look like"):
        validate_routes({prefix: "X"})


def test_route_table_json_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_ROUTES", '{"/api/echo/": "echo-app", "/api/orders": "ORDERS"}')
    assert GatewaySettings().routes == {"/api/echo": "ECHO-APP", "/api/orders": "ORDERS"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/auth/register"),
        ("POST", "/api/auth/login"),
        ("POST", "/api/auth/refresh"),
        ("POST", "/api/auth/logout"),
        ("GET", "/api/auth/.well-known/jwks.json"),
        ("GET", "/api/products"),
        ("HEAD", "/api/products"),
        ("GET", "/api/products/7f0c3a"),
        ("HEAD", "/api/products/7f0c3a"),
    ],
)
def test_public_endpoints(method: str, path: str) -> None:
    assert is_public(method, path)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/auth/login"),
        ("POST", "/api/auth/login/"),
        ("GET", "/api/auth/me"),
        ("POST", "/api/products"),
        ("PATCH", "/api/products/1"),
        ("DELETE", "/api/products/1"),
        ("GET", "/api/products/1/reservations"),
        ("GET", "/api/products/"),
        ("GET", "/api/products//1"),
        ("GET", "/api/orders"),
        ("GET", "/api/users/me"),
        ("GET", "/api/payments"),
        ("GET", "/api/notifications"),
        ("OPTIONS", "/api/products"),
    ],
)
def test_everything_else_needs_a_token(method: str, path: str) -> None:
    assert not is_public(method, path)


@pytest.mark.parametrize(
    "path",
    ["/api/products/../orders", "/api/products/..", "/api/./orders", "/api/orders/.", "/api/.."],
)
def test_dot_segments_are_refused(path: str) -> None:
    assert not is_safe_path(path)


@pytest.mark.parametrize("path", ["/api/orders/1", "/api/auth/.well-known/jwks.json", "/api/a..b"])
def test_ordinary_paths_are_safe(path: str) -> None:
    assert is_safe_path(path)


# -- headers ---------------------------------------------------------------------------------


def _forward(headers: list[tuple[bytes, bytes]], client: str | None = "10.0.0.7") -> Any:
    return forward_request_headers(headers, client_host=client, scheme="http")


def test_identity_headers_from_clients_are_stripped() -> None:
    forwarded = _forward(
        [
            (b"x-user-id", b"admin"),
            (b"X-User-Roles", b"admin"),
            (b"x-user-email", b"root@example.com"),
            (b"x-user-tenant", b"other"),
            (b"x-authenticated-user", b"admin"),
            (b"x-authenticated-userid", b"admin"),
            (b"x-forwarded-user", b"admin"),
            (b"x-remote-user", b"admin"),
            (b"accept", b"application/json"),
        ]
    )
    names = [name for name, _ in forwarded.headers]
    assert not [n for n in names if n.startswith((b"x-user", b"x-authenticated", b"x-forwarded-u"))]
    assert b"x-remote-user" not in names
    assert (b"accept", b"application/json") in forwarded.headers


def test_hop_by_hop_headers_are_dropped_including_those_named_in_connection() -> None:
    forwarded = _forward(
        [
            (b"connection", b"keep-alive, X-Secret-Hop"),
            (b"keep-alive", b"timeout=5"),
            (b"te", b"trailers"),
            (b"upgrade", b"websocket"),
            (b"proxy-authorization", b"Basic abc"),
            (b"x-secret-hop", b"1"),
            (b"expect", b"100-continue"),
            (b"content-type", b"application/json"),
        ]
    )
    assert [name for name, _ in forwarded.headers][:1] == [b"content-type"]
    for name in (b"connection", b"keep-alive", b"te", b"upgrade", b"proxy-authorization"):
        assert name not in dict(forwarded.headers)
    assert b"x-secret-hop" not in dict(forwarded.headers)
    assert b"expect" not in dict(forwarded.headers)


def test_authorization_is_forwarded_as_is_and_only_the_first_one() -> None:
    forwarded = _forward([(b"authorization", b"Bearer one"), (b"authorization", b"Bearer two")])
    assert forwarded.authorization == "Bearer one"
    assert [v for n, v in forwarded.headers if n == b"authorization"] == [b"Bearer one"]


def test_request_ids_generated_when_missing_and_kept_when_sent() -> None:
    fresh = _forward([])
    assert len(fresh.request_id) == 32
    assert fresh.correlation_id == fresh.request_id
    ids = dict(fresh.headers)
    assert ids[b"x-request-id"] == fresh.request_id.encode()
    assert ids[b"x-correlation-id"] == fresh.request_id.encode()
    assert valid_traceparent(ids[b"traceparent"])
    assert _forward([]).request_id != fresh.request_id

    kept = _forward([(b"x-request-id", b"req-1"), (b"x-correlation-id", b"saga-9")])
    assert (kept.request_id, kept.correlation_id) == ("req-1", "saga-9")


def test_malformed_ids_and_trace_context_are_replaced() -> None:
    forwarded = _forward(
        [(b"x-request-id", b"has spaces and \xff"), (b"traceparent", b"00-zz-not-valid-01")]
    )
    assert forwarded.request_id != "has spaces and \xff"
    assert dict(forwarded.headers)[b"traceparent"] != b"00-zz-not-valid-01"


def test_valid_traceparent_passes_unchanged() -> None:
    value = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert dict(_forward([(b"traceparent", value)]).headers)[b"traceparent"] == value
    assert not valid_traceparent(b"00-00000000000000000000000000000000-00f067aa0ba902b7-01")


def test_client_address_is_appended_to_forwarded_for_and_host_kept_as_forwarded_host() -> None:
    forwarded = _forward(
        [(b"host", b"shop.example"), (b"x-forwarded-for", b"203.0.113.9"), (b"forwarded", b"x")]
    )
    headers = dict(forwarded.headers)
    assert headers[b"x-forwarded-for"] == b"203.0.113.9, 10.0.0.7"
    assert headers[b"x-forwarded-host"] == b"shop.example"
    assert headers[b"x-forwarded-proto"] == b"http"
    assert b"host" not in headers
    assert b"forwarded" not in headers


def test_body_framing_flags() -> None:
    assert not _forward([]).has_body
    assert not _forward([(b"content-length", b"0")]).has_body
    sized = _forward([(b"content-length", b"12")])
    assert sized.has_body and not sized.chunked
    chunked = _forward([(b"transfer-encoding", b"chunked")])
    assert chunked.has_body and chunked.chunked
    assert b"transfer-encoding" not in dict(chunked.headers)


def test_response_headers_lose_hop_by_hop_and_carry_the_gateway_request_id() -> None:
    headers = response_headers(
        [
            (b"Content-Type", b"application/json"),
            (b"Transfer-Encoding", b"chunked"),
            (b"Connection", b"close"),
            (b"Date", b"yesterday"),
            (b"Server", b"uvicorn"),
            (b"X-Request-ID", b"upstream-made"),
            (b"Set-Cookie", b"a=1"),
        ],
        b"rid-1",
    )
    assert headers == [
        (b"content-type", b"application/json"),
        (b"set-cookie", b"a=1"),
        (b"x-request-id", b"rid-1"),
    ]


# -- balancing -------------------------------------------------------------------------------


class FakeRegistry:
    """Round robin like EurekaDiscovery, over a list the test controls."""

    def __init__(self, apps: dict[str, list[ServiceInstance]]) -> None:
        self.apps = apps
        self.last_refresh_ok = True
        self._cursor = itertools.count()

    def instances(self, app_name: str) -> list[ServiceInstance]:
        return self.apps.get(app_name, [])

    def round_robin(self, app_name: str) -> list[ServiceInstance]:
        found = self.instances(app_name)
        if not found:
            return []
        start = next(self._cursor) % len(found)
        return found[start:] + found[:start]

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


A = ServiceInstance("a", "http://127.0.0.1:9001")
B = ServiceInstance("b", "http://127.0.0.1:9002")
C = ServiceInstance("c", "http://127.0.0.1:9003")


def test_round_robin_spreads_requests() -> None:
    balancer = Balancer(FakeRegistry({"S": [A, B, C]}), cooldown_seconds=5)
    firsts = [balancer.candidates("S")[0] for _ in range(6)]
    assert firsts == [A, B, C, A, B, C]


def test_failed_instance_is_tried_last_during_cooldown_then_again() -> None:
    clock = FakeClock()
    balancer = Balancer(FakeRegistry({"S": [A, B]}), cooldown_seconds=5, clock=clock)
    balancer.mark_failed(A)
    assert balancer.is_cooling(A)
    for _ in range(4):
        assert balancer.candidates("S") == [B, A]  # A stays reachable, but only as a fallback
    clock.now += 5.1
    assert not balancer.is_cooling(A)
    assert {balancer.candidates("S")[0] for _ in range(2)} == {A, B}


def test_all_instances_cooling_are_still_offered() -> None:
    clock = FakeClock()
    balancer = Balancer(FakeRegistry({"S": [A, B]}), cooldown_seconds=5, clock=clock)
    balancer.mark_failed(A)
    balancer.mark_failed(B)
    assert sorted(i.instance_id for i in balancer.candidates("S")) == ["a", "b"]
    assert balancer.candidates("unknown") == []


def test_cooldown_entries_of_departed_instances_are_forgotten() -> None:
    clock = FakeClock()
    balancer = Balancer(FakeRegistry({"S": [B]}), cooldown_seconds=5, clock=clock)
    balancer.mark_failed(A)
    clock.now += 6
    balancer.mark_failed(B)
    assert list(balancer._cooling) == [B.base_url]


# -- retry policy, with a fake upstream ------------------------------------------------------


class FakeResponse:
    def __init__(self, instance: str) -> None:
        self.status = 200
        self.headers = [(b"content-type", b"text/plain")]
        self.instance = instance
        self.released = False

    async def body(self) -> Any:
        yield self.instance.encode(), False

    def release(self) -> None:
        self.released = True


class FakeUpstream:
    """Answers per port from a script: an exception to raise, or a response."""

    def __init__(self, script: dict[int, Exception | None]) -> None:
        self.script = script
        self.calls: list[tuple[int, str]] = []

    async def send(self, host: str, port: int, *, method: str, **_: Any) -> Any:
        self.calls.append((port, method))
        outcome = self.script[port]
        if outcome is not None:
            raise outcome
        return FakeResponse(str(port))

    async def aclose(self) -> None:
        return None


def _gateway(registry: FakeRegistry, upstream: FakeUpstream) -> Gateway:
    settings = GatewaySettings(routes=dict(DEFAULT_ROUTES), retry_attempts=1)
    return Gateway(settings, EurekaSettings(enabled=False), discovery=registry, upstream=upstream)


def _call(
    gateway: Gateway, method: str, path: str, body: bytes = b""
) -> tuple[int, dict[bytes, bytes], bytes]:
    headers = [(b"content-length", str(len(body)).encode())] if body else []
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "scheme": "http",
    }
    messages: list[dict[str, Any]] = []
    incoming = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    asyncio.run(gateway.handle(scope, receive, send))
    start = messages[0]
    payload = b"".join(m.get("body", b"") for m in messages[1:])
    return start["status"], dict(start["headers"]), payload


REFUSED = ConnectFailed("connection refused")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_connect_failure_goes_to_the_next_instance_for_any_method(method: str) -> None:
    registry = FakeRegistry({"AUTH-SERVICE": [A, B]})
    upstream = FakeUpstream({9001: REFUSED, 9002: None})
    gateway = _gateway(registry, upstream)
    path = "/api/auth/login" if method == "POST" else "/api/auth/.well-known/jwks.json"
    body = b'{"email": "a@b.c"}' if method == "POST" else b""
    assert _call(gateway, method, path, body)[::2] == (200, b"9002")
    assert upstream.calls == [(9001, method), (9002, method)]
    assert gateway.balancer.is_cooling(A)
    # Cooling: the next requests go to B first, without touching A.
    upstream.calls.clear()
    for _ in range(3):
        assert _call(gateway, method, path, body)[0] == 200
    assert upstream.calls == [(9002, method)] * 3


def test_post_is_not_retried_once_it_may_have_reached_the_upstream() -> None:
    upstream = FakeUpstream({9001: UpstreamBroken("closed"), 9002: None})
    gateway = _gateway(FakeRegistry({"AUTH-SERVICE": [A, B]}), upstream)
    status, _, payload = _call(gateway, "POST", "/api/auth/login", b"{}")
    assert status == 502
    assert b"AUTH-SERVICE" in payload
    assert upstream.calls == [(9001, "POST")]


def test_idempotent_get_is_retried_once_after_a_broken_connection() -> None:
    upstream = FakeUpstream({9001: UpstreamBroken("closed"), 9002: None, 9003: None})
    gateway = _gateway(FakeRegistry({"PRODUCT-SERVICE": [A, B, C]}), upstream)
    assert _call(gateway, "GET", "/api/products/1")[::2] == (200, b"9002")
    assert upstream.calls == [(9001, "GET"), (9002, "GET")]


def test_retries_are_bounded_and_all_refused_answers_503() -> None:
    upstream = FakeUpstream({9001: REFUSED, 9002: REFUSED, 9003: None})
    gateway = _gateway(FakeRegistry({"PRODUCT-SERVICE": [A, B, C]}), upstream)
    status, headers, payload = _call(gateway, "GET", "/api/products")
    assert status == 503
    assert payload == b'{"detail":"no instance of PRODUCT-SERVICE could be reached"}'
    assert headers[b"content-type"] == b"application/json"
    assert len(upstream.calls) == 2


def test_timeout_answers_504_without_retry() -> None:
    upstream = FakeUpstream({9001: UpstreamTimeout("slow"), 9002: None})
    gateway = _gateway(FakeRegistry({"PRODUCT-SERVICE": [A, B]}), upstream)
    assert _call(gateway, "GET", "/api/products")[0] == 504
    assert len(upstream.calls) == 1


def test_no_instance_answers_503_and_unknown_path_404() -> None:
    gateway = _gateway(FakeRegistry({}), FakeUpstream({}))
    status, headers, payload = _call(gateway, "GET", "/api/products")
    assert (status, payload) == (503, b'{"detail":"no instance of PRODUCT-SERVICE is available"}')
    assert b"x-request-id" in headers
    assert _call(gateway, "GET", "/api/nowhere")[0] == 404
    assert _call(gateway, "GET", "/api/products/../orders")[0] == 404


def test_protected_route_without_token_is_refused_before_any_upstream_call() -> None:
    upstream = FakeUpstream({9001: None})
    gateway = _gateway(FakeRegistry({"ORDER-SERVICE": [A]}), upstream)
    status, headers, payload = _call(gateway, "GET", "/api/orders")
    assert status == 401
    assert headers[b"www-authenticate"].startswith(b"Bearer")
    assert payload == b'{"detail":"missing bearer token"}'
    assert upstream.calls == []


# -- token cache -----------------------------------------------------------------------------


class CountingVerifier:
    def __init__(self) -> None:
        self.calls = 0

    async def verify(self, token: str) -> None:
        self.calls += 1
        if token.startswith("bad"):
            raise InvalidToken("token rejected")


def _token(exp: int) -> str:
    import jwt

    return jwt.encode({"exp": exp, "sub": "u"}, "k" * 32, algorithm="HS256")


def test_token_cache_verifies_once_until_exp_and_never_remembers_refusals() -> None:
    verifier = CountingVerifier()
    clock = FakeClock()
    check = TokenCheck(verifier, max_entries=10, clock=clock)
    token = _token(int(clock.now) + 60)

    async def run() -> None:
        for _ in range(3):
            await check.verify(token)
        assert verifier.calls == 1
        clock.now += 61
        await check.verify(token)  # expired in the cache: asks the verifier again
        assert verifier.calls == 2
        for _ in range(2):
            with pytest.raises(InvalidToken):
                await check.verify("bad-token")
        assert verifier.calls == 4

    asyncio.run(run())


def test_token_cache_is_bounded_and_forgets_everything_when_keys_change() -> None:
    verifier = CountingVerifier()
    clock = FakeClock()
    check = TokenCheck(verifier, max_entries=2, clock=clock)
    tokens = [_token(int(clock.now) + 60 + i) for i in range(3)]
    documents = iter([{"keys": [1]}, {"keys": [1]}, {"keys": [2]}])

    async def fetch() -> dict[str, Any]:
        return next(documents)

    watched = watching_key_changes(fetch, check.forget_all)

    async def run() -> None:
        for token in tokens:
            await check.verify(token)
        assert len(check) == 2
        await watched()
        assert len(check) == 0  # first document: treated as a change
        await check.verify(tokens[0])
        await watched()
        assert len(check) == 1  # same keys: cache kept
        await watched()
        assert len(check) == 0  # new keys: every token is verified again

    asyncio.run(run())
