"""Event streams through the proxy, with fakes: every event is passed on as it comes, and a
client that leaves a stream quiet between events ends it at once (the upstream response is
released, so its connection closes and the service's stream ends); other responses are relayed
without watching the client."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.proxy import Gateway, is_event_stream
from gateway.routes import DEFAULT_ROUTES
from gateway.settings import GatewaySettings
from servicekit.discovery import ServiceInstance
from servicekit.settings import EurekaSettings

INSTANCE = ServiceInstance("p1", "http://127.0.0.1:9001")


class Registry:
    last_refresh_ok = True

    def instances(self, app_name: str) -> list[ServiceInstance]:
        return [INSTANCE] if app_name == "PRODUCT-SERVICE" else []

    def round_robin(self, app_name: str) -> list[ServiceInstance]:
        return self.instances(app_name)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class Stream:
    """An upstream response: two events, then silence (until ``end`` is set)."""

    def __init__(self, content_type: bytes) -> None:
        self.status = 200
        self.headers = [(b"content-type", content_type)]
        self.end = asyncio.Event()
        self.released = False
        self.cancelled = False

    async def body(self) -> Any:
        try:
            yield b"event: status\ndata: 1\n\n", True
            yield b"event: status\ndata: 2\n\n", True
            await self.end.wait()
            yield b"", False
        except asyncio.CancelledError:
            self.cancelled = True
            raise

    def release(self) -> None:
        self.released = True


class Upstream:
    def __init__(self, response: Stream) -> None:
        self.response = response

    async def send(self, host: str, port: int, **_: Any) -> Stream:
        return self.response

    async def aclose(self) -> None:
        return None


def _scope() -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": "/api/products",
        "raw_path": b"/api/products",
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 5000),
        "scheme": "http",
    }


async def _serve(
    response: Stream, *, leave_after_events: int | None
) -> tuple[list[dict[str, Any]], Gateway]:
    """Run one request; the client leaves once it got ``leave_after_events`` events (never if
    None: the stream then ends by itself after the second)."""
    settings = GatewaySettings(routes=dict(DEFAULT_ROUTES))
    gateway = Gateway(
        settings, EurekaSettings(enabled=False), discovery=Registry(), upstream=Upstream(response)
    )
    sent: list[dict[str, Any]] = []
    left = asyncio.Event()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await left.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        events = sum(1 for m in sent if m.get("body"))
        if leave_after_events is not None and events >= leave_after_events:
            left.set()
        elif leave_after_events is None and events == 2:
            response.end.set()

    await asyncio.wait_for(gateway.handle(_scope(), receive, send), timeout=5)
    return sent, gateway


def test_events_pass_on_as_they_come_and_a_stream_that_ends_ends() -> None:
    response = Stream(b"text/event-stream; charset=utf-8")
    sent, _ = asyncio.run(_serve(response, leave_after_events=None))
    assert [m.get("body") for m in sent[1:]] == [
        b"event: status\ndata: 1\n\n",
        b"event: status\ndata: 2\n\n",
        b"",
    ]
    assert sent[-1]["more_body"] is False
    assert response.released and not response.cancelled


def test_a_client_leaving_a_quiet_stream_ends_it_at_once() -> None:
    response = Stream(b"text/event-stream")
    sent, _ = asyncio.run(_serve(response, leave_after_events=2))
    assert response.cancelled  # no longer waiting on the upstream
    assert response.released  # its connection goes back (closed, as the body did not end)
    assert all(m.get("more_body", True) for m in sent[1:])  # nothing pretends it ended


def test_other_streamed_responses_are_relayed_without_watching_the_client() -> None:
    assert is_event_stream([(b"content-type", b"Text/Event-Stream ; charset=utf-8")])
    assert not is_event_stream([(b"content-type", b"application/octet-stream")])
    assert not is_event_stream([])
    response = Stream(b"application/octet-stream")
    sent, _ = asyncio.run(_serve(response, leave_after_events=None))
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
