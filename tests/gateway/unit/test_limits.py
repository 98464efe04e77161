"""The gateway's client limits (gateway.limits) on uvicorn's protocol, fed by hand through a fake
transport: exact head and body boundaries, what the app is (not) given, the answers and the
per-client connection count. Deadlines and real sockets: tests/gateway/integration/test_limits.py.
Also the response side: no Location naming an instance, HEAD asked upstream as GET."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from gateway.headers import public_url, response_headers
from gateway.limits import (
    ClientConnections,
    ConnectionLimits,
    LimitedHttpToolsProtocol,
    body_framing,
    client_key,
    limited_protocol,
    refusal,
)
from gateway.main import create_app
from gateway.proxy import Gateway, refusal_of
from gateway.routes import DEFAULT_ROUTES
from gateway.settings import GatewaySettings
from gateway.webapp import WebAppSettings
from servicekit.discovery import ServiceInstance
from servicekit.settings import EurekaSettings
from tests.gateway.unit.test_routing import FakeRegistry

LIMITS = ConnectionLimits(
    max_header_bytes=1024,
    max_body_bytes=100,
    header_timeout=30,
    body_timeout=30,
    max_connections_per_client=2,
)


class FakeTransport:
    """What the protocol writes and whether it closed; the peer address is the test's."""

    def __init__(self, peer: str = "127.0.0.1") -> None:
        self.peer = (peer, 50000)
        self.written = bytearray()
        self.closed = False
        self.eof_written = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": self.peer, "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def write(self, data: bytes) -> None:
        if self.closed or self.eof_written:
            return  # as a real transport does: nothing goes out after the end
        self.written += data

    def write_eof(self) -> None:
        self.eof_written = True

    def can_write_eof(self) -> bool:
        return True

    def is_closing(self) -> bool:
        return self.closed or self.eof_written

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    @property
    def status(self) -> int | None:
        """Status of the first response written, if any."""
        if not self.written:
            return None
        return int(bytes(self.written).split(b" ", 2)[1])


class RecordingApp:
    """Answers 200 after reading the whole body; remembers what it was given."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.bodies: list[bytes] = []
        self.disconnected = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.calls.append(f"{scope['method']} {scope['path']}")
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                self.bodies.append(body)
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


class Harness:
    """One server's worth of state; ``connect()`` makes connections to it."""

    def __init__(self, limits: ConnectionLimits = LIMITS) -> None:
        self.app = RecordingApp()
        self.protocol_class = limited_protocol(limits)
        self.config = Config(app=self.app, http=self.protocol_class, lifespan="off")
        self.config.proxy_headers = False
        self.config.load()
        self.state = ServerState()

    def connect(self, peer: str = "127.0.0.1") -> tuple[LimitedHttpToolsProtocol, FakeTransport]:
        protocol = self.protocol_class(
            self.config, self.state, {}, _loop=asyncio.get_running_loop()
        )
        transport = FakeTransport(peer)
        protocol.connection_made(transport)
        return protocol, transport


async def settle() -> None:
    """Let the app's task run until it waits on something."""
    for _ in range(5):
        await asyncio.sleep(0)


def head(extra: bytes = b"", method: bytes = b"GET", target: bytes = b"/api/x") -> bytes:
    return method + b" " + target + b" HTTP/1.1\r\nhost: gateway\r\n" + extra + b"\r\n"


def padded_head(size: int) -> bytes:
    """A GET head of exactly ``size`` bytes."""
    bare = len(head(b"x-pad: \r\n"))
    return head(b"x-pad: " + b"a" * (size - bare) + b"\r\n")


# -- head size -------------------------------------------------------------------------------


def test_a_head_of_exactly_the_limit_is_served_one_byte_more_is_431() -> None:
    async def scenario() -> None:
        harness = Harness()
        protocol, transport = harness.connect()
        exact = padded_head(LIMITS.max_header_bytes)
        assert len(exact) == LIMITS.max_header_bytes
        protocol.data_received(exact)
        await settle()
        assert transport.status == 200

        protocol, transport = harness.connect()
        protocol.data_received(padded_head(LIMITS.max_header_bytes + 1))
        await settle()
        assert transport.status == 431
        assert b"connection: close" in transport.written
        assert transport.eof_written  # then drained and closed: no reset eats the answer
        assert harness.app.calls == ["GET /api/x"]  # the second never reached the app

    asyncio.run(scenario())


def test_a_head_is_counted_across_reads_and_a_body_in_the_same_read_does_not_count() -> None:
    async def scenario() -> None:
        harness = Harness()
        protocol, transport = harness.connect()
        body = b"b" * 100
        request = padded_head(LIMITS.max_header_bytes - 21)[:-2] + b"content-length: 100\r\n\r\n"
        assert len(request) == LIMITS.max_header_bytes
        # The head ends inside the read that also carries the whole body: within the limit.
        protocol.data_received(request[:300])
        protocol.data_received(request[300:] + body)
        await settle()
        assert transport.status == 200
        assert harness.app.bodies == [body]

        protocol, transport = harness.connect()
        big = padded_head(LIMITS.max_header_bytes + 500)
        for start in range(0, len(big), 100):  # trickled in small reads
            protocol.data_received(big[start : start + 100])
        await settle()
        assert transport.status == 431

    asyncio.run(scenario())


def test_the_limit_applies_to_each_request_on_a_kept_alive_connection() -> None:
    async def scenario() -> None:
        harness = Harness()
        protocol, transport = harness.connect()
        for _ in range(3):
            protocol.data_received(padded_head(LIMITS.max_header_bytes - 10))
            await settle()
        assert transport.written.count(b"HTTP/1.1 200 OK") == 3
        assert not transport.is_closing()

    asyncio.run(scenario())


# -- body size -------------------------------------------------------------------------------


def test_a_declared_body_over_the_limit_is_413_before_a_byte_of_it_is_read() -> None:
    async def scenario() -> None:
        harness = Harness()
        protocol, transport = harness.connect()
        length = LIMITS.max_body_bytes + 1
        protocol.data_received(
            head(b"content-length: %d\r\nexpect: 100-continue\r\n" % length, b"POST")
        )
        await settle()
        assert transport.status == 413
        assert b"100 Continue" not in transport.written
        assert harness.app.calls == []

    asyncio.run(scenario())


def test_a_chunked_body_is_cut_off_as_it_passes_the_limit() -> None:
    async def scenario() -> None:
        harness = Harness()
        protocol, transport = harness.connect()
        protocol.data_received(head(b"transfer-encoding: chunked\r\n", b"POST"))
        await settle()
        assert harness.app.calls == ["POST /api/x"]
        protocol.data_received(b"3c\r\n" + b"a" * 60 + b"\r\n")  # 60: within the limit
        await settle()
        protocol.data_received(b"3c\r\n" + b"b" * 60 + b"\r\n")  # 120: over it
        await settle()
        assert transport.status == 413
        assert harness.app.disconnected  # the proxy stops forwarding and closes upstream
        assert all(len(body) <= LIMITS.max_body_bytes for body in harness.app.bodies)
        assert b"b" not in b"".join(harness.app.bodies)  # the chunk that passed is never given
        cycle = protocol.cycle
        assert refusal_of(cycle.scope) == (413, "request body larger than 100 bytes")

    asyncio.run(scenario())


def test_bytes_past_a_content_length_are_never_the_body() -> None:
    async def scenario() -> None:
        harness = Harness()
        protocol, transport = harness.connect()
        # A Content-Length that understates the body: what follows is parsed as a request.
        protocol.data_received(head(b"content-length: 10\r\n", b"POST") + b"x" * 200)
        await settle()
        assert harness.app.bodies == [b"x" * 10]
        assert transport.status == 400
        assert transport.closed

    asyncio.run(scenario())


# -- methods ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "target"), [(b"TRACE", b"/api/products"), (b"CONNECT", b"example.com:443")]
)
def test_trace_and_connect_are_405_with_allow_and_never_reach_the_app(
    method: bytes, target: bytes
) -> None:
    async def scenario() -> None:
        harness = Harness()
        protocol, transport = harness.connect()
        protocol.data_received(head(method=method, target=target))
        await settle()
        assert transport.status == 405
        assert b"\r\nallow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n" in transport.written
        assert harness.app.calls == []

    asyncio.run(scenario())


# -- connections per client ------------------------------------------------------------------


def test_connections_beyond_the_cap_per_address_are_429_at_accept() -> None:
    async def scenario() -> None:
        harness = Harness()
        first, _ = harness.connect("10.0.0.1")
        harness.connect("10.0.0.1")
        refused, transport = harness.connect("10.0.0.1")
        assert transport.status == 429
        assert b"\r\nretry-after: 1\r\n" in transport.written
        assert harness.connect("10.0.0.2")[1].status is None  # another address: admitted
        refused.connection_lost(None)  # a refused connection frees no place
        assert harness.connect("10.0.0.1")[1].status == 429
        first.connection_lost(None)
        assert harness.connect("10.0.0.1")[1].status is None

    asyncio.run(scenario())


def test_no_cap_when_set_to_zero() -> None:
    async def scenario() -> None:
        harness = Harness(
            ConnectionLimits(
                max_header_bytes=1024,
                max_body_bytes=100,
                header_timeout=30,
                body_timeout=30,
                max_connections_per_client=0,
            )
        )
        assert all(harness.connect()[1].status is None for _ in range(10))

    asyncio.run(scenario())


def test_client_keys_ipv4_as_is_ipv6_per_64() -> None:
    assert client_key("192.0.2.7") == "192.0.2.7"
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::9")
    assert client_key("2001:db8:1:2::1") != client_key("2001:db8:1:3::1")
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_key("fe80::1%eth0") == client_key("fe80::2")


def test_client_connections_count_up_to_the_cap_and_forget_closed_addresses() -> None:
    clients = ClientConnections(2)
    assert clients.admit("a") and clients.admit("a")
    assert not clients.admit("a")
    assert clients.open("a") == 2
    clients.release("a")
    clients.release("a")
    assert clients.open("a") == 0
    assert clients._open == {}


# -- pure helpers ----------------------------------------------------------------------------


def test_body_framing() -> None:
    assert body_framing([]) == (None, False)
    assert body_framing([(b"content-length", b"12")]) == (12, False)
    assert body_framing([(b"transfer-encoding", b"gzip, Chunked")]) == (None, True)


def test_refusal_is_a_complete_closing_json_response() -> None:
    answer = refusal(408, "too slow", [(b"x-a", b"1")], [(b"date", b"today")])
    head_part, body = answer.split(b"\r\n\r\n")
    assert head_part.split(b"\r\n") == [
        b"HTTP/1.1 408 Request Timeout",
        b"date: today",
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        b"connection: close",
        b"x-a: 1",
    ]
    assert body == b'{"detail":"too slow"}'


# -- no internal address in responses --------------------------------------------------------


def _instance(host: str, port: int) -> bool:
    return (host, port) == ("10.1.2.3", 8104)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"http://127.0.0.1:8104/api/orders", b"/api/orders"),
        (b"http://10.1.2.3:8104/api/orders?page=2#top", b"/api/orders?page=2#top"),
        (b"HTTP://10.1.2.3:8104", b"/"),
        (b"//10.1.2.3:8104/api/x", b"/api/x"),
        (b"http:\\\\10.1.2.3:8104\\api\\x", b"/api/x"),
        (b"http://localhost/api/x", b"/api/x"),
        (b"http://[::1]:9000/x", b"/x"),
        (b"http://10.1.2.3:8104//evil.example/x", None),
        (b"http://10.1.2.3:99999/x", None),
        # Not an instance: left alone.
        (b"https://pay.example.com/checkout/1", b"https://pay.example.com/checkout/1"),
        (b"http://10.1.2.3:8105/x", b"http://10.1.2.3:8105/x"),
        (b"/api/orders/1", b"/api/orders/1"),
        (b"../x?next=http://127.0.0.1:8104/", b"../x?next=http://127.0.0.1:8104/"),
    ],
)
def test_locations_naming_an_instance_become_paths(value: bytes, expected: bytes | None) -> None:
    assert public_url(value, _instance) == expected


def test_response_headers_rewrite_location_and_content_location_only() -> None:
    headers = response_headers(
        [
            (b"Location", b"http://10.1.2.3:8104/api/orders/1"),
            (b"Content-Location", b"http://10.1.2.3:8104/api/orders/1"),
            (b"Link", b"</api/orders/2>; rel=next"),
        ],
        b"rid",
        _instance,
    )
    assert headers == [
        (b"location", b"/api/orders/1"),
        (b"content-location", b"/api/orders/1"),
        (b"link", b"</api/orders/2>; rel=next"),
        (b"x-request-id", b"rid"),
    ]


# -- the proxy: HEAD as GET, instances named in Location -------------------------------------


class LocatedResponse:
    """A 201 whose Location names the instance that answered; counts reads of its body."""

    def __init__(self, host: str, port: int, upstream: RedirectingUpstream) -> None:
        self.status = 201
        self.headers = [
            (b"location", f"http://{host}:{port}/api/products/9".encode()),
            (b"content-length", b"2"),
        ]
        self._upstream = upstream

    async def body(self) -> Any:
        self._upstream.bodies_read += 1
        yield b"{}", False

    def release(self) -> None:
        pass


class RedirectingUpstream:
    """Answers every request with a Location naming the instance it was sent to."""

    def __init__(self) -> None:
        self.methods: list[str] = []
        self.bodies_read = 0

    async def send(self, host: str, port: int, *, method: str, **_: Any) -> Any:
        self.methods.append(method)
        return LocatedResponse(host, port, self)

    async def aclose(self) -> None:
        return None


def _proxy_call(gateway: Gateway, method: str, path: str) -> tuple[int, dict[bytes, bytes]]:
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 5000),
        "scheme": "http",
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(gateway.handle(scope, receive, send))
    return sent[0]["status"], dict(sent[0]["headers"])


def test_head_is_asked_upstream_as_get_and_its_body_is_not_read() -> None:
    upstream = RedirectingUpstream()
    registry = FakeRegistry({"PRODUCT-SERVICE": [ServiceInstance("p", "http://10.9.9.9:8103")]})
    gateway = Gateway(
        GatewaySettings(routes=dict(DEFAULT_ROUTES)),
        EurekaSettings(enabled=False),
        discovery=registry,
        upstream=upstream,
    )
    status, headers = _proxy_call(gateway, "HEAD", "/api/products")
    assert status == 201
    assert upstream.methods == ["GET"]
    assert upstream.bodies_read == 0
    assert headers[b"content-length"] == b"2"
    # The instance's own address in Location became a path.
    assert headers[b"location"] == b"/api/products/9"


def test_the_gateways_own_health_and_metrics_answer_head_as_get(tmp_path: Path) -> None:
    app = create_app(GatewaySettings(), web=WebAppSettings(web_dist=tmp_path))

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [
                await client.request(m, p) for p in ("/health", "/metrics") for m in ("GET", "HEAD")
            ]

    get_health, head_health, get_metrics, head_metrics = asyncio.run(run())
    assert head_health.status_code == get_health.status_code  # 503 here: no Eureka in unit tests
    assert head_health.headers["content-type"] == "application/json"
    assert head_metrics.status_code == get_metrics.status_code == 200
    assert head_metrics.headers["content-type"] == get_metrics.headers["content-type"]
