"""Failover of requests an instance took and never answered: a POST carrying an Idempotency-Key
goes to the next instance with the same body; one without stays a 502; the instance that cut the
connection is tried last afterwards."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.upstream import UpstreamBroken
from tests.gateway.unit.test_routing import A, B, FakeRegistry, FakeResponse, _gateway


class BodyReadingUpstream:
    """Reads each request's whole body, then answers per port from a script."""

    def __init__(self, script: dict[int, Exception | None]) -> None:
        self.script = script
        self.bodies: list[tuple[int, bytes]] = []

    async def send(self, host: str, port: int, *, body: Any = None, **_: Any) -> Any:
        received = b""
        if body is not None:
            async for chunk in body:
                received += chunk
        self.bodies.append((port, received))
        outcome = self.script[port]
        if outcome is not None:
            raise outcome
        return FakeResponse(str(port))

    async def aclose(self) -> None:
        return None


def _post(gateway: Any, path: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> int:
    size = sum(map(len, chunks))
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"content-length", str(size).encode()), *headers],
        "client": ("127.0.0.1", 5000),
        "scheme": "http",
    }
    incoming = [
        {"type": "http.request", "body": chunk, "more_body": index + 1 < len(chunks)}
        for index, chunk in enumerate(chunks)
    ]
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    asyncio.run(gateway.handle(scope, receive, send))
    return int(messages[0]["status"])


def test_post_with_idempotency_key_goes_to_the_next_instance_with_the_same_body() -> None:
    upstream = BodyReadingUpstream({9001: UpstreamBroken("reset"), 9002: None})
    gateway = _gateway(FakeRegistry({"AUTH-SERVICE": [A, B]}), upstream)
    chunks = [b'{"items": ', b'[{"product_id": "p", "quantity": 1}]}']
    status = _post(gateway, "/api/auth/login", chunks, [(b"idempotency-key", b"key-1")])
    assert status == 200
    assert upstream.bodies == [(9001, b"".join(chunks)), (9002, b"".join(chunks))]
    assert gateway.balancer.is_cooling(A)


def test_post_without_idempotency_key_is_not_sent_twice() -> None:
    upstream = BodyReadingUpstream({9001: UpstreamBroken("reset"), 9002: None})
    gateway = _gateway(FakeRegistry({"AUTH-SERVICE": [A, B]}), upstream)
    status = _post(gateway, "/api/auth/login", [b"{}"], [])
    assert status == 502
    assert [port for port, _ in upstream.bodies] == [9001]
    # The instance that cut the connection is tried last from now on.
    assert gateway.balancer.is_cooling(A)


def test_a_body_too_large_to_keep_is_not_sent_twice() -> None:
    upstream = BodyReadingUpstream({9001: UpstreamBroken("reset"), 9002: None})
    gateway = _gateway(FakeRegistry({"AUTH-SERVICE": [A, B]}), upstream)
    chunks = [b"x" * 40_000, b"y" * 40_000]  # more than the 64 KiB kept for a replay
    status = _post(gateway, "/api/auth/login", chunks, [(b"idempotency-key", b"key-2")])
    assert status == 502
    assert [port for port, _ in upstream.bodies] == [9001]
