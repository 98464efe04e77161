"""An upstream that drops a kept-alive connection the way a failing server does, for the gateway
test of stale connections; a real process registered in the real Eureka.

Per connection: ``POST /api/drop/fail`` is answered 500 on a kept-alive connection, and the NEXT
request on that connection is dropped unanswered (the connection closes as it arrives: what a
client sees when uvicorn closes a connection after an unhandled error, at the worst moment).
Anything else is answered 200 with ``{"port", "method", "path", "body"}``. Configured by
DROP_APP_NAME and DROP_PORT (and EUREKA_* through EurekaSettings).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal

import httptools

from servicekit.logging import configure_logging
from servicekit.settings import EurekaSettings


class _Request:
    def __init__(self) -> None:
        self.url = b""
        self.body = b""
        self.done = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.done = True


def _response(status: int, payload: dict[str, object]) -> bytes:
    body = json.dumps(payload).encode()
    reason = b"OK" if status == 200 else b"Internal Server Error"
    head = b"HTTP/1.1 %d %b\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
    return head % (status, reason, len(body)) + body


async def _serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int
) -> None:
    drop_next = False
    try:
        while True:
            request = _Request()
            parser = httptools.HttpRequestParser(request)
            while not request.done:
                data = await reader.read(65536)
                if not data:
                    return
                if drop_next:
                    return  # closes without a byte of answer
                parser.feed_data(data)
            method = parser.get_method().decode()
            path = request.url.decode()
            if method == "POST" and path == "/api/drop/fail":
                writer.write(_response(500, {"detail": "failed on purpose"}))
                drop_next = True
            else:
                payload = {
                    "port": port,
                    "method": method,
                    "path": path,
                    "body": request.body.decode(),
                }
                writer.write(_response(200, payload))
            await writer.drain()
    finally:
        writer.close()


async def main() -> None:
    """Serve and stay registered until SIGTERM."""
    configure_logging("dropping_upstream", level="WARNING")
    port = int(os.environ["DROP_PORT"])
    eureka = EurekaSettings()
    server = await asyncio.start_server(
        lambda r, w: _serve_connection(r, w, port), "127.0.0.1", port
    )
    registration = eureka.registration(app_name=os.environ["DROP_APP_NAME"], port=port)
    await registration.start()
    stopped = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopped.set)
    async with server:
        await stopped.wait()
    await registration.stop()


if __name__ == "__main__":
    asyncio.run(main())
