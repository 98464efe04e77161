"""The gateway's client limits as a client meets them, over raw sockets: a real gateway process
with small limits in front of a real upstream (recording_upstream.py beside this file) that
records what reached it, both registered in the real Eureka.

Deadlines are checked only as bounds: the connection must be answered and closed within the
configured deadline plus a margin for a loaded machine; how fast is never asserted.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack import layout
from gateway.limits import LINGER_SECONDS
from tests.support import ManagedProcess, free_port, wait_for

pytestmark = pytest.mark.integration

MAX_HEADER_BYTES = 8192
MAX_BODY_BYTES = 65536
HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.5
MAX_CONNECTIONS_PER_CLIENT = 4
# Slack on every bound: a loaded 2-core box runs the gateway, the upstream and this test.
MARGIN = 5.0
# Another address of this machine (all of 127/8 is loopback): its connections count apart.
OTHER_CLIENT = "127.0.0.2"
THIRD_CLIENT = "127.0.0.3"
FOURTH_CLIENT = "127.0.0.4"


@dataclass
class Stack:
    gateway: ManagedProcess
    upstream: ManagedProcess
    port: int

    def records(self, path_part: str) -> list[dict[str, Any]]:
        """What the upstream received for paths containing ``path_part``."""
        url = f"http://127.0.0.1:{self.upstream.http_port}/records"
        found: list[dict[str, Any]] = httpx.get(url, timeout=5).json()
        return [record for record in found if path_part in record["path"]]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    log_dir = tmp_path_factory.mktemp("gateway-limits")
    app = f"LIMITS-{uuid.uuid4().hex[:8].upper()}"
    upstream_port, port = free_port(), free_port()
    upstream = ManagedProcess(
        [sys.executable, "-m", "tests.gateway.integration.recording_upstream"],
        {
            "RECORD_APP_NAME": app,
            "RECORD_PORT": str(upstream_port),
            "EUREKA_URL": layout.EUREKA_URL,
        },
        log_dir / "upstream.log",
        http_port=upstream_port,
    )
    jwks = f"http://127.0.0.1:{upstream_port}/jwks.json"
    gateway = ManagedProcess(
        [sys.executable, "-m", "gateway"],
        {
            "GATEWAY_PORT": str(port),
            # Public routes (no token needed) lead to the recording upstream.
            "GATEWAY_ROUTES": json.dumps({"/api/auth": app, "/api/products": app}),
            "GATEWAY_JWKS_URL": jwks,
            "JWKS_URL": jwks,
            "GATEWAY_MAX_HEADER_BYTES": str(MAX_HEADER_BYTES),
            "GATEWAY_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
            "GATEWAY_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
            "GATEWAY_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
            "GATEWAY_MAX_CONNECTIONS_PER_CLIENT": str(MAX_CONNECTIONS_PER_CLIENT),
            "GATEWAY_ACCESS_LOG": "all",
            "EUREKA_URL": layout.EUREKA_URL,
            "EUREKA_REGISTRY_REFRESH_SECONDS": "0.5",
        },
        log_dir / "gateway.log",
        http_port=port,
    )
    started: list[ManagedProcess] = []
    try:
        for process in (upstream, gateway):
            process.start()
            started.append(process)
        wait_for(upstream.health, timeout=30, what="the recording upstream")
        wait_for(lambda: (gateway.health() or {}).get("status") == "ok", timeout=30)

        def routed() -> bool:
            url = f"http://127.0.0.1:{port}/api/products/ready"
            return httpx.get(url, timeout=5).status_code == 200

        wait_for(routed, timeout=30, what="the gateway to route to the upstream")
        yield Stack(gateway, upstream, port)
    finally:
        for process in reversed(started):
            process.stop()


# -- raw sockets -----------------------------------------------------------------------------


def connect(stack: Stack, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", stack.port))
    return sock


def read_until_closed(sock: socket.socket, within: float) -> tuple[bytes, bool]:
    """What the gateway sent until it closed the connection, waiting ``within`` seconds at
    most in all; the flag is False when the connection was still open then."""
    deadline = time.monotonic() + within
    received = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return received, False
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return received, False
        except ConnectionResetError:
            return received, True
        if not chunk:
            return received, True
        received += chunk


def read_response(
    sock: socket.socket, *, head_request: bool = False
) -> tuple[int, dict[bytes, bytes], bytes]:
    """One response with a Content-Length off a kept-alive connection (no body after HEAD)."""
    sock.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed after {data!r}"
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    status_line, *lines = head.split(b"\r\n")
    headers = {n.lower(): v for n, v in (line.split(b": ", 1) for line in lines)}
    length = 0 if head_request else int(headers.get(b"content-length", b"0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, f"closed after {data + rest!r}"
        rest += chunk
    assert len(rest) == length, f"bytes after the body: {rest[length:]!r}"
    return int(status_line.split(b" ")[1]), headers, rest


def status_of(response: bytes) -> int:
    assert response.startswith(b"HTTP/1.1 "), response[:200]
    return int(response.split(b" ", 2)[1])


def send_in_background(sock: socket.socket, parts: Iterator[bytes]) -> threading.Thread:
    """Send each part in turn until the gateway stops taking them."""

    def run() -> None:
        try:
            for part in parts:
                sock.sendall(part)
        except OSError:
            pass  # the gateway closed the connection: what this test expects

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def trickle(data: bytes, every: float, stop: threading.Event) -> Iterator[bytes]:
    """One byte at a time, ``every`` seconds apart: the slowloris pattern."""
    for index in range(len(data)):
        if stop.wait(every):
            return
        yield data[index : index + 1]


def request(method: str, path: str, extra: bytes = b"") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: gateway\r\n".encode() + extra + b"\r\n"


# -- header size -----------------------------------------------------------------------------


def test_a_head_within_the_limit_is_served_and_a_1_mb_header_is_431_and_closed(
    stack: Stack,
) -> None:
    case = uuid.uuid4().hex
    with connect(stack) as sock:
        sock.sendall(
            request("GET", f"/api/products/{case}-fits", b"X-Pad: " + b"a" * 7000 + b"\r\n")
        )
        assert read_response(sock)[0] == 200

    with connect(stack) as sock:
        oversized = request(
            "GET", f"/api/products/{case}-big", b"X-Big: " + b"a" * 1_000_000 + b"\r\n"
        )
        send_in_background(sock, iter([oversized]))
        response, closed = read_until_closed(sock, LINGER_SECONDS + MARGIN)
    assert status_of(response) == 431
    assert b"connection: close" in response
    assert b"larger than 8192 bytes" in response
    assert closed
    assert stack.records(f"{case}-big") == []
    assert len(stack.records(f"{case}-fits")) == 1


# -- body size -------------------------------------------------------------------------------


def test_a_declared_body_over_the_limit_is_413_before_a_byte_of_it_is_sent(stack: Stack) -> None:
    path = f"/api/auth/login?case={uuid.uuid4().hex}"
    with connect(stack) as sock:
        # The head alone: the answer must come without the body ever being sent.
        sock.sendall(request("POST", path, b"Content-Length: %d\r\n" % (MAX_BODY_BYTES + 1)))
        response, closed = read_until_closed(sock, LINGER_SECONDS + MARGIN)
    assert status_of(response) == 413
    assert b"larger than 65536 bytes" in response
    assert closed
    assert stack.records(path) == []


def test_a_chunked_body_is_cut_off_at_the_limit_and_the_upstream_never_gets_more(
    stack: Stack,
) -> None:
    path = f"/api/auth/login?case={uuid.uuid4().hex}"
    chunk = b"%x\r\n%b\r\n" % (8192, b"c" * 8192)
    with connect(stack) as sock:
        sock.sendall(request("POST", path, b"Transfer-Encoding: chunked\r\n") + chunk * 4)
        # Half the limit is streaming upstream before the rest is sent.
        wait_for(
            lambda: [r for r in stack.records(path) if r["body_bytes"] >= 4 * 8192],
            what="the first half of the body at the upstream",
        )
        send_in_background(sock, iter([chunk] * 200))  # 1.6 MB more, unless cut off
        response, closed = read_until_closed(sock, LINGER_SECONDS + MARGIN)
    assert status_of(response) == 413
    assert closed
    (record,) = wait_for(
        lambda: [r for r in stack.records(path) if r.get("closed")],
        what="the upstream to see its connection end",
    )
    assert not record["complete"]
    assert record["body_bytes"] <= MAX_BODY_BYTES
    # The gateway's access line and metrics say 413, not a client that went away.
    assert stack.gateway.metric("gateway_requests_total", route="/api/auth", status="413") >= 1
    assert stack.gateway.metric("gateway_limit_refusals_total", reason="body_size") >= 1


def test_bytes_past_a_content_length_never_reach_the_upstream(stack: Stack) -> None:
    path = f"/api/auth/login?case={uuid.uuid4().hex}"
    with connect(stack) as sock:
        # A length at the limit, then far more bytes than it says: the body is the length.
        sock.sendall(request("POST", path, b"Content-Length: %d\r\n" % MAX_BODY_BYTES))
        sock.sendall(b"x" * MAX_BODY_BYTES)
        wait_for(
            lambda: [r for r in stack.records(path) if r["complete"]],
            what="the whole declared body at the upstream",
        )
        send_in_background(sock, iter([b"x" * 200_000]))
        response, closed = read_until_closed(sock, LINGER_SECONDS + MARGIN)
    # The surplus is read as the next request, which is invalid: 400 and closed.
    assert b"HTTP/1.1 400 " in response
    assert closed
    (record,) = stack.records(path)
    assert record["body_bytes"] == MAX_BODY_BYTES


# -- deadlines -------------------------------------------------------------------------------


@pytest.mark.parametrize("kept_alive", [False, True], ids=["first-request", "kept-alive"])
def test_a_slowloris_head_is_408_at_the_header_deadline_whatever_trickles_in(
    stack: Stack, kept_alive: bool
) -> None:
    stop = threading.Event()
    with connect(stack) as sock:
        if kept_alive:  # the deadline of a later request's head runs from its first byte
            sock.sendall(request("GET", "/api/products/first"))
            assert read_response(sock)[0] == 200
        # 0.2 s a byte, ~60 bytes: 12 s of trickle if each byte extended the deadline.
        head = request("GET", "/api/products/slow", b"X-Slow: " + b"s" * 20 + b"\r\n")
        send_in_background(sock, trickle(head, 0.2, stop))
        try:
            response, closed = read_until_closed(sock, HEADER_TIMEOUT + MARGIN)
        finally:
            stop.set()
    assert status_of(response) == 408
    assert b"request head not received within 1s" in response
    assert closed


def test_a_connection_that_sends_nothing_is_closed_at_the_header_deadline(stack: Stack) -> None:
    with connect(stack) as sock:
        response, closed = read_until_closed(sock, HEADER_TIMEOUT + MARGIN)
    assert (response, closed) == (b"", True)


def test_a_slow_body_is_408_at_the_body_deadline_and_cut_off_upstream(stack: Stack) -> None:
    path = f"/api/auth/login?case={uuid.uuid4().hex}"
    stop = threading.Event()
    with connect(stack) as sock:
        sock.sendall(request("POST", path, b"Content-Length: 1000\r\n"))
        send_in_background(sock, trickle(b"{" * 1000, 0.2, stop))
        try:
            response, closed = read_until_closed(sock, BODY_TIMEOUT + MARGIN)
        finally:
            stop.set()
    assert status_of(response) == 408
    assert b"request body not received within 1.5s" in response
    assert closed
    (record,) = wait_for(
        lambda: [r for r in stack.records(path) if r.get("closed")],
        what="the upstream to see its connection end",
    )
    assert not record["complete"]


# -- connections per client ------------------------------------------------------------------


def test_connections_beyond_the_cap_from_one_address_are_429(stack: Stack, tmp_path: Path) -> None:
    release = tmp_path / "release"
    path = f"/api/products/hold?until={release}"
    held = [connect(stack, OTHER_CLIENT) for _ in range(MAX_CONNECTIONS_PER_CLIENT)]
    try:
        for sock in held:
            sock.sendall(request("GET", path))
        # Every held request is at the upstream: the connections are busy, not idle.
        wait_for(
            lambda: len(stack.records(str(release))) == MAX_CONNECTIONS_PER_CLIENT,
            what="the held requests at the upstream",
        )
        with connect(stack, OTHER_CLIENT) as extra:
            response, closed = read_until_closed(extra, LINGER_SECONDS + MARGIN)
        assert status_of(response) == 429
        assert b"retry-after: 1" in response
        assert closed
        with connect(stack, THIRD_CLIENT) as other:
            other.sendall(request("GET", "/api/products/another-address"))
            assert read_response(other)[0] == 200
        release.touch()
        assert [read_response(sock)[0] for sock in held] == [200] * MAX_CONNECTIONS_PER_CLIENT
    finally:
        for sock in held:
            sock.close()

    def admitted_again() -> bool:
        with connect(stack, OTHER_CLIENT) as sock:
            sock.sendall(request("GET", "/api/products/after", b"Connection: close\r\n"))
            response, _ = read_until_closed(sock, MARGIN)
            return response.startswith(b"HTTP/1.1 200")

    wait_for(admitted_again, what="connections from the address to be admitted again")


def test_upgrade_requests_are_plain_http_and_leave_the_count_as_it_was(stack: Stack) -> None:
    upgrade = b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
    upgrade += b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    statuses = []
    for _ in range(MAX_CONNECTIONS_PER_CLIENT + 2):  # one after another, each closed
        with connect(stack, FOURTH_CLIENT) as sock:
            sock.sendall(request("GET", "/api/products/upgrade", upgrade))
            statuses.append(read_response(sock)[0])
    assert statuses == [200] * (MAX_CONNECTIONS_PER_CLIENT + 2)

    def admitted() -> bool:
        with connect(stack, FOURTH_CLIENT) as sock:
            sock.sendall(request("GET", "/api/products/after-upgrades"))
            return read_response(sock)[0] == 200

    wait_for(admitted, what="a connection from the address after its upgrade requests")


# -- methods ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "name"),
    [("TRACE /api/products/{case}", "TRACE"), ("CONNECT {case}.example:443", "CONNECT")],
)
def test_trace_and_connect_are_405_with_allow_and_never_forwarded(
    stack: Stack, line: str, name: str
) -> None:
    case = uuid.uuid4().hex
    method, target = line.format(case=case).split(" ")
    with connect(stack) as sock:
        sock.sendall(request(method, target))
        response, closed = read_until_closed(sock, LINGER_SECONDS + MARGIN)
    assert status_of(response) == 405
    assert b"\r\nallow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n" in response
    assert closed
    assert stack.records(case) == []


def test_head_answers_like_get_without_a_body(stack: Stack) -> None:
    case = uuid.uuid4().hex
    with connect(stack) as sock:
        sock.sendall(request("GET", f"/api/products/{case}"))
        get_status, get_headers, body = read_response(sock)
        sock.sendall(request("HEAD", f"/api/products/{case}"))
        head_status, head_headers, _ = read_response(sock, head_request=True)
        # No body followed the HEAD answer: the next answer on the connection parses whole.
        sock.sendall(request("GET", f"/api/products/{case}"))
        assert read_response(sock)[0] == 200
    assert get_status == head_status == 200
    assert head_headers[b"content-length"] == get_headers[b"content-length"] == b"%d" % len(body)
    assert [r["method"] for r in stack.records(case)] == ["GET", "GET", "GET"]


# -- internal addresses ----------------------------------------------------------------------


def test_a_location_naming_the_instance_reaches_the_client_as_a_path(stack: Stack) -> None:
    response = httpx.get(f"http://127.0.0.1:{stack.port}/api/products/locate", timeout=10)
    assert response.status_code == 201
    assert response.headers["location"] == "/api/products/located"
    assert response.headers["content-location"] == "/api/products/located"
    internal = f"127.0.0.1:{stack.upstream.http_port}"
    assert not [value for _, value in response.headers.multi_items() if internal in value]
