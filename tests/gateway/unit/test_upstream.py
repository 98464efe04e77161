"""The gateway's HTTP/1.1 upstream client against scripted local servers: keep-alive reuse,
framing (length, chunked, HEAD, close-delimited), timeouts, pool limits, and the errors that
decide retries (refused before sending, broken after)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httptools
import pytest

from gateway.upstream import (
    ConnectFailed,
    PoolTimeout,
    Timeouts,
    UpstreamBroken,
    UpstreamClient,
    UpstreamTimeout,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Seen"], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"


class Seen:
    """What the server received: connections and parsed requests."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[dict[str, Any]] = []


class _RequestParser:
    def __init__(self) -> None:
        self.done = False
        self.body = b""
        self.headers: dict[bytes, bytes] = {}
        self.url = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.done = True


async def read_request(reader: asyncio.StreamReader, seen: Seen) -> dict[str, Any] | None:
    """One whole request off the connection (None when the client closed it)."""
    state = _RequestParser()
    parser = httptools.HttpRequestParser(state)
    while not state.done:
        data = await reader.read(65536)
        if not data:
            return None
        parser.feed_data(data)
    request = {
        "method": parser.get_method(),
        "url": state.url,
        "headers": state.headers,
        "body": state.body,
    }
    seen.requests.append(request)
    return request


async def serve(handler: Handler) -> tuple[asyncio.Server, int, Seen]:
    seen = Seen()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.connections += 1
        try:
            await handler(reader, writer, seen)
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], seen


def client(**overrides: Any) -> UpstreamClient:
    timeouts = Timeouts(
        connect=overrides.pop("connect", 2.0),
        read=overrides.pop("read", 2.0),
        write=overrides.pop("write", 2.0),
        pool=overrides.pop("pool", 2.0),
    )
    return UpstreamClient(
        timeouts,
        max_connections_per_instance=overrides.pop("max_connections", 10),
        max_idle_per_instance=overrides.pop("max_idle", 10),
        keepalive_expiry=overrides.pop("keepalive", 4.0),
    )


async def fetch(
    upstream: UpstreamClient,
    port: int,
    method: str = "GET",
    body: AsyncIterator[bytes] | None = None,
    *,
    chunked: bool = False,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> tuple[int, dict[bytes, bytes], bytes]:
    response = await upstream.send(
        "127.0.0.1",
        port,
        method=method,
        target=b"/api/x?q=1",
        headers=headers or [],
        body=body,
        chunked=chunked,
    )
    try:
        data = b"".join([chunk async for chunk, _ in response.body()])
    finally:
        response.release()
    return response.status, dict(response.headers), data


def run(coroutine: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, 20))


async def until(condition: Callable[[], bool]) -> None:
    """Poll a condition on the event loop (never a fixed sleep as synchronisation)."""
    async with asyncio.timeout(5):
        # The conditions are state of sockets and pools, which no event announces.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


async def keep_alive_ok(reader: asyncio.StreamReader, writer: Any, seen: Seen) -> None:
    while await read_request(reader, seen) is not None:
        writer.write(OK)
        await writer.drain()


def test_connection_is_reused_and_the_request_line_is_exact() -> None:
    async def scenario() -> None:
        server, port, seen = await serve(keep_alive_ok)
        upstream = client()
        async with server:
            for _ in range(3):
                assert await fetch(upstream, port, headers=[(b"x-a", b"1")]) == (
                    200,
                    {b"content-length": b"2", b"content-type": b"text/plain"},
                    b"ok",
                )
            await upstream.aclose()
        assert seen.connections == 1
        request = seen.requests[0]
        assert (request["method"], request["url"]) == (b"GET", b"/api/x?q=1")
        assert request["headers"][b"host"] == f"127.0.0.1:{port}".encode()
        assert request["headers"][b"x-a"] == b"1"

    run(scenario())


def test_chunked_response_is_decoded_and_streams_in_parts() -> None:
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: Any, seen: Seen) -> None:
        await read_request(reader, seen)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        await release.wait()
        writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
        await writer.drain()
        await read_request(reader, seen)

    async def scenario() -> None:
        server, port, _ = await serve(handler)
        upstream = client()
        async with server:
            response = await upstream.send(
                "127.0.0.1", port, method="GET", target=b"/", headers=[], body=None, chunked=False
            )
            parts = response.body()
            # The first part arrives while the server still holds the second.
            assert await anext(parts) == (b"first", True)
            release.set()
            assert [p async for p in parts] == [(b"second", False)]
            response.release()
            await upstream.aclose()

    run(scenario())


def test_streamed_request_body_is_sent_chunked_or_with_its_length() -> None:
    async def body() -> AsyncIterator[bytes]:
        for part in (b"abc", b"", b"defg"):
            yield part

    async def scenario() -> None:
        server, port, seen = await serve(keep_alive_ok)
        upstream = client()
        async with server:
            await fetch(upstream, port, "POST", body(), chunked=True)
            await fetch(
                upstream, port, "PUT", body(), headers=[(b"content-length", b"7")], chunked=False
            )
            await upstream.aclose()
        chunked, sized = seen.requests
        assert chunked["headers"][b"transfer-encoding"] == b"chunked"
        assert chunked["body"] == sized["body"] == b"abcdefg"
        assert sized["headers"][b"content-length"] == b"7"
        assert seen.connections == 1

    run(scenario())


def test_head_response_has_no_body_and_its_connection_is_not_reused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: Any, seen: Seen) -> None:
        while await read_request(reader, seen) is not None:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
            await writer.drain()

    async def scenario() -> None:
        server, port, seen = await serve(handler)
        upstream = client()
        async with server:
            for _ in range(2):
                status, headers, data = await fetch(upstream, port, "HEAD")
                assert (status, headers[b"content-length"], data) == (200, b"1000", b"")
            await upstream.aclose()
        assert seen.connections == 2

    run(scenario())


def test_close_delimited_body_ends_with_the_connection() -> None:
    async def handler(reader: asyncio.StreamReader, writer: Any, seen: Seen) -> None:
        await read_request(reader, seen)
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end")
        await writer.drain()

    async def scenario() -> None:
        server, port, _ = await serve(handler)
        upstream = client()
        async with server:
            assert (await fetch(upstream, port))[2] == b"until the end"
            await upstream.aclose()

    run(scenario())


def test_idle_connection_closed_by_the_server_is_replaced_quietly() -> None:
    async def one_request_per_connection(
        reader: asyncio.StreamReader, writer: Any, seen: Seen
    ) -> None:
        await read_request(reader, seen)
        writer.write(OK)  # keep-alive promised, then the server closes (its idle timeout)
        await writer.drain()

    async def scenario() -> None:
        server, port, seen = await serve(one_request_per_connection)
        upstream = client()
        async with server:
            assert (await fetch(upstream, port))[0] == 200
            idle = upstream._pools[("127.0.0.1", port)].idle
            await until(lambda: idle[0].closed)  # the server's close reached the client
            assert (await fetch(upstream, port))[0] == 200
            await upstream.aclose()
        assert seen.connections == 2

    run(scenario())


def test_refused_connection_is_connect_failed() -> None:
    async def scenario() -> None:
        server, port, _ = await serve(keep_alive_ok)
        server.close()
        await server.wait_closed()
        with pytest.raises(ConnectFailed):
            await fetch(client(), port)

    run(scenario())


def test_silent_upstream_times_out_and_mid_body_close_is_broken() -> None:
    async def silent(reader: asyncio.StreamReader, writer: Any, seen: Seen) -> None:
        await read_request(reader, seen)
        await asyncio.sleep(5)

    async def cut(reader: asyncio.StreamReader, writer: Any, seen: Seen) -> None:
        await read_request(reader, seen)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
        await writer.drain()

    async def scenario() -> None:
        server, port, _ = await serve(silent)
        async with server:
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(UpstreamTimeout):
                await fetch(client(read=0.3), port)
            assert 0.25 < loop.time() - started < 2
        server, port, _ = await serve(cut)
        async with server:
            with pytest.raises(UpstreamBroken):
                await fetch(client(), port)

    run(scenario())


def test_early_answer_during_an_upload_is_the_response() -> None:
    async def refuse(reader: asyncio.StreamReader, writer: Any, seen: Seen) -> None:
        await reader.read(100)
        writer.write(b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 3\r\n\r\nbig")
        await writer.drain()

    async def scenario() -> None:
        server, port, _ = await serve(refuse)
        upstream = client()

        async def endless() -> AsyncIterator[bytes]:
            for _ in range(10_000):
                yield b"x" * 65536
                await asyncio.sleep(0)

        async with server:
            status, _, data = await fetch(
                upstream, port, "POST", endless(), headers=[(b"content-length", b"655360000")]
            )
            assert (status, data) == (413, b"big")
            await upstream.aclose()

    run(scenario())


def test_pool_limit_queues_requests_and_times_out() -> None:
    gate = asyncio.Event()

    async def held(reader: asyncio.StreamReader, writer: Any, seen: Seen) -> None:
        while await read_request(reader, seen) is not None:
            await gate.wait()
            writer.write(OK)
            await writer.drain()

    async def scenario() -> None:
        server, port, seen = await serve(held)
        async with server:
            upstream = client(max_connections=1, pool=0.2)
            pool = upstream._pool("127.0.0.1", port)
            first = asyncio.create_task(fetch(upstream, port))
            await until(lambda: len(seen.requests) == 1)
            with pytest.raises(PoolTimeout):
                await fetch(upstream, port)
            queued = asyncio.create_task(fetch(client(max_connections=1), port))
            waiting = asyncio.create_task(fetch(upstream, port))
            await until(lambda: len(seen.requests) == 2 and bool(pool._waiters))
            gate.set()
            assert (await first)[0] == (await waiting)[0] == (await queued)[0] == 200
            await upstream.aclose()
        assert seen.connections == 2  # the waiting request reused the first one's connection

    run(scenario())


async def answer_once_then_drop(reader: asyncio.StreamReader, writer: Any, seen: Seen) -> None:
    """Answer the first request of a connection, keep it open, and drop it unanswered when the
    next request arrives: what a client sees when the server closes a kept-alive connection
    just as the next request goes out (uvicorn does after an unhandled error)."""
    if await read_request(reader, seen) is None:
        return
    writer.write(OK)
    await writer.drain()
    await reader.read(1)  # the next request starts: close without a byte of answer


def test_request_on_a_reused_connection_that_drops_is_sent_again_on_a_fresh_one() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b'{"items": '
        yield b"[1, 2]}"

    async def scenario() -> None:
        server, port, seen = await serve(answer_once_then_drop)
        upstream = client()
        async with server:
            assert (await fetch(upstream, port))[0] == 200
            status, _, data = await fetch(upstream, port, method="POST", body=body(), chunked=True)
            await upstream.aclose()
        assert (status, data) == (200, b"ok")
        # The second connection carried the whole POST, body included.
        assert seen.connections == 2
        assert [r["method"] for r in seen.requests] == [b"GET", b"POST"]
        assert seen.requests[1]["body"] == b'{"items": [1, 2]}'

    run(scenario())


def test_a_fresh_connection_that_drops_is_broken_not_retried() -> None:
    async def drop(reader: asyncio.StreamReader, writer: Any, seen: Seen) -> None:
        await read_request(reader, seen)

    async def scenario() -> None:
        server, port, seen = await serve(drop)
        upstream = client()
        async with server:
            with pytest.raises(UpstreamBroken):
                await fetch(upstream, port, method="POST", body=_body(b"x"), chunked=True)
            await upstream.aclose()
        assert seen.connections == 1

    run(scenario())


def test_a_body_too_large_to_keep_is_not_sent_twice() -> None:
    big = b"y" * (64 * 1024 + 1)

    async def scenario() -> None:
        server, port, seen = await serve(answer_once_then_drop)
        upstream = client()
        async with server:
            assert (await fetch(upstream, port))[0] == 200
            with pytest.raises(UpstreamBroken):
                await fetch(upstream, port, method="POST", body=_body(big), chunked=True)
            await upstream.aclose()
        assert seen.connections == 1

    run(scenario())


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data
