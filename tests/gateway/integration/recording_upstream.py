"""An upstream that records what reached it, for the gateway limit tests; a real process
registered in the real Eureka.

Each request is parsed as it arrives and recorded: method, path, the body bytes received so far,
whether the request was complete, and ``closed`` once its connection ended before it was, so a
request the gateway cut off is recorded with what got through. Straight to its port (not
through the gateway): ``GET /records`` answers the records as JSON, ``GET /health`` answers ok,
``GET /jwks.json`` an empty key set. Through the gateway:

- ``.../hold?until=<file>``: answered once that file exists (at most 30 s);
- ``.../locate``: 201 with Location and Content-Location naming this instance's own address;
- anything else: 200 with the request's record.

Configured by RECORD_APP_NAME and RECORD_PORT (and EUREKA_* through EurekaSettings).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httptools

from servicekit.logging import configure_logging
from servicekit.settings import EurekaSettings

HOLD_LIMIT_SECONDS = 30.0


class _Request:
    """httptools callbacks filling one record."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record
        self.url = b""
        self.done = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_headers_complete(self) -> None:
        self.record["path"] = self.url.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.record["body_bytes"] += len(body)

    def on_message_complete(self) -> None:
        self.record["complete"] = True
        self.done = True


def _response(status: int, payload: Any, extra: list[tuple[str, str]] | None = None) -> bytes:
    body = json.dumps(payload).encode()
    lines = [f"HTTP/1.1 {status} X", "content-type: application/json"]
    lines += [f"{name}: {value}" for name, value in extra or []]
    lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _hold(until: str) -> bool:
    """Wait for the test to create ``until``; the test, not a timer, decides when to go on."""
    try:
        async with asyncio.timeout(HOLD_LIMIT_SECONDS):
            # The signal comes from another process: polling is the only way to see it.
            while not await asyncio.to_thread(Path(until).exists):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    except TimeoutError:
        return False
    return True


async def _answer(record: dict[str, Any], records: list[dict[str, Any]], port: int) -> bytes:
    url = urlsplit(record["path"])
    if url.path == "/records":
        return _response(200, records)
    if url.path == "/health":
        return _response(200, {"status": "ok"})
    if url.path == "/jwks.json":
        return _response(200, {"keys": []})
    if url.path.endswith("/hold"):
        until = parse_qs(url.query).get("until", [""])[0]
        return _response(200 if await _hold(until) else 504, record)
    if url.path.endswith("/locate"):
        own = f"http://127.0.0.1:{port}/api/products/located"
        return _response(201, record, [("location", own), ("content-location", own)])
    return _response(200, record)


async def _serve_connection(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    records: list[dict[str, Any]],
    port: int,
) -> None:
    record: dict[str, Any] = {}
    try:
        while True:
            record = {"method": "", "path": "", "body_bytes": 0, "complete": False}
            request = _Request(record)
            parser = httptools.HttpRequestParser(request)
            while not request.done:
                data = await reader.read(65536)
                if not data:
                    return
                if not record["method"]:
                    records.append(record)
                try:
                    parser.feed_data(data)
                except httptools.HttpParserError:
                    return
                record["method"] = parser.get_method().decode()
            writer.write(await _answer(record, records, port))
            await writer.drain()
    except ConnectionError:
        return
    finally:
        # A request the connection ended in the middle of: what got through is final now.
        record["closed"] = not record.get("complete", True)
        writer.close()


async def main() -> None:
    """Serve and stay registered until SIGTERM."""
    configure_logging("recording_upstream", level="WARNING")
    port = int(os.environ["RECORD_PORT"])
    eureka = EurekaSettings()
    records: list[dict[str, Any]] = []
    server = await asyncio.start_server(
        lambda r, w: _serve_connection(r, w, records, port), "127.0.0.1", port
    )
    registration = eureka.registration(app_name=os.environ["RECORD_APP_NAME"], port=port)
    await registration.start()
    stopped = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    async with server:
        await stopped.wait()
    await registration.stop()


if __name__ == "__main__":
    asyncio.run(main())
