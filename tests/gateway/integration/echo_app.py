"""A tiny upstream for gateway tests and the gateway benchmark, run as a real process that
registers in the real Eureka.

It echoes what reached it (method, path, headers, body digest) with its own instance id, and has
endpoints for the cases the gateway must handle: a slow answer, a streamed answer, a streamed
upload, a fixed JWKS. Configured by ECHO_* variables (and EUREKA_* through EurekaSettings):

    ECHO_APP_NAME   Eureka app name to register under
    ECHO_PORT       port to listen on
    ECHO_INSTANCE   instance id (reported in every answer)
    ECHO_JWKS       JSON document served at /jwks.json (optional)
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from servicekit.logging import configure_logging
from servicekit.settings import EurekaSettings

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
ECHOED_BODY_LIMIT = 64 * 1024


def stream_chunk(index: int, size: int) -> bytes:
    """Chunk ``index`` of /api/echo/stream: distinct per index, so a lost, repeated or reordered
    chunk changes the digest."""
    block = hashlib.sha256(str(index).encode()).digest()
    return (block * (size // len(block) + 1))[:size]


async def _wait_for_file(path: Path) -> bool:
    """Poll for a file the test creates; the test, not a timer, decides when to go on."""
    try:
        async with asyncio.timeout(30):
            # The signal comes from another process: polling is the only way to see it.
            while not await asyncio.to_thread(path.exists):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    except TimeoutError:
        return False
    return True


def create_app(*, app_name: str, port: int, instance: str, jwks: str | None) -> FastAPI:
    """The echo upstream; registers in Eureka during its lifespan."""
    eureka = EurekaSettings()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        registration = eureka.registration(app_name=app_name, port=port, instance_id=instance)
        await registration.start()
        try:
            yield
        finally:
            await registration.stop()

    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "instance": instance}

    @app.get("/jwks.json")
    async def serve_jwks() -> Response:
        if jwks is None:
            return JSONResponse({"detail": "no JWKS configured"}, status_code=404)
        return Response(jwks, media_type="application/json")

    @app.get("/api/echo/ping")
    async def ping() -> dict[str, Any]:
        # The benchmark's request: small, so that it measures the proxy, not JSON encoding.
        return {"ok": True, "instance": instance}

    @app.get("/api/echo/slow")
    async def slow(seconds: float = 3.0) -> dict[str, Any]:
        await asyncio.sleep(seconds)
        return {"instance": instance, "slept": seconds}

    @app.get("/api/echo/stream")
    async def stream(chunks: int = 8, size: int = 65536, hold: str = "") -> StreamingResponse:
        """``chunks`` chunks of ``size`` bytes (see stream_chunk); with ``hold``, the first chunk
        goes out and the rest waits until that file exists."""

        async def body() -> AsyncIterator[bytes]:
            for index in range(chunks):
                yield stream_chunk(index, size)
                if index == 0 and hold and not await _wait_for_file(Path(hold)):
                    return

        headers = {"x-echo-instance": instance}
        return StreamingResponse(body(), media_type="application/octet-stream", headers=headers)

    @app.post("/api/echo/upload")
    async def upload(request: Request, signal: str = "") -> dict[str, Any]:
        """Digest of a streamed body; with ``signal``, that file is created once the first chunk
        arrived (so the test knows the body is streaming before it sends the rest)."""
        digest = hashlib.sha256()
        length = 0
        async for chunk in request.stream():
            if chunk and length == 0 and signal:
                await asyncio.to_thread(Path(signal).touch)
            digest.update(chunk)
            length += len(chunk)
        return {"instance": instance, "length": length, "sha256": digest.hexdigest()}

    @app.api_route("/{path:path}", methods=ALL_METHODS)
    async def echo(request: Request, path: str) -> Response:
        body = await request.body()
        payload = {
            "instance": instance,
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.headers.raw],
            "body": body.decode("utf-8", "replace") if len(body) <= ECHOED_BODY_LIMIT else None,
            "body_length": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
        }
        return JSONResponse(payload, headers={"x-echo-instance": instance})

    return app


def main() -> None:
    """Serve until SIGTERM (which deregisters from Eureka)."""
    configure_logging("echo", level=os.environ.get("ECHO_LOG_LEVEL", "WARNING"))
    port = int(os.environ["ECHO_PORT"])
    app = create_app(
        app_name=os.environ["ECHO_APP_NAME"],
        port=port,
        instance=os.environ.get("ECHO_INSTANCE", f"echo-{port}"),
        jwks=os.environ.get("ECHO_JWKS"),
    )
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
