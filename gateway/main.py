"""The gateway app: ``create_app()`` wires settings, discovery, token check and the proxy; the
lifespan starts them. Nothing connects before the lifespan runs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.types import Receive, Scope, Send

from gateway.docs import docs_router
from gateway.openapi import DESCRIPTION, TITLE, VERSION, PublicApiDocs
from gateway.proxy import Discovery, Gateway, Upstream, is_api_path
from gateway.settings import GatewaySettings
from gateway.webapp import WebAppSettings, create_web_app
from servicekit.logging import configure_logging
from servicekit.settings import EurekaSettings
from servicekit.tokens import TokenVerifier


def _lighten_log_records() -> None:
    """The logging HOWTO's "Optimization" switches: the JSON lines carry no source location,
    thread or process fields, and gathering them (a frame walk per line, thread and process
    lookups per record) showed up in the profile of the per-request access line."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


class GatewayAPI(FastAPI):
    """FastAPI for /docs, /openapi.json, /health and /metrics; /api traffic goes straight to the
    proxy, ahead of FastAPI's middleware stack (error, telemetry and body-limit layers that cost
    more per request than the proxy's own routing)."""

    def __init__(self, gateway: Gateway, docs: PublicApiDocs, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gateway = gateway
        self.docs = docs

    def openapi(self) -> dict[str, Any]:
        """The public API behind the gateway, as the services publish it (gateway.openapi), not
        the gateway's own routes."""
        return self.docs.document()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Proxy /api requests; everything else (and the lifespan) is FastAPI's: its own routes,
        then the web app (gateway.webapp)."""
        if scope["type"] == "http" and is_api_path(scope["path"]):
            await self.gateway.handle(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(
    settings: GatewaySettings | None = None,
    *,
    eureka: EurekaSettings | None = None,
    discovery: Discovery | None = None,
    verifier: TokenVerifier | None = None,
    upstream: Upstream | None = None,
    web: WebAppSettings | None = None,
) -> FastAPI:
    """The gateway as an ASGI app; collaborators default to the real ones built from settings."""
    settings = settings or GatewaySettings()
    eureka = eureka or EurekaSettings()
    gateway = Gateway(settings, eureka, discovery=discovery, verifier=verifier, upstream=upstream)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        configure_logging("gateway", level=settings.log_level)
        # The gateway writes its own access line (without the query string, which can carry
        # credentials); configure_logging re-attaches uvicorn's, which would log both.
        logging.getLogger("uvicorn.access").propagate = False
        _lighten_log_records()
        await gateway.start()
        await docs.start()
        try:
            yield
        finally:
            await docs.stop()
            await gateway.stop()

    docs = PublicApiDocs(
        settings.routes, gateway.discovery, refresh_seconds=settings.openapi_refresh_seconds
    )
    app = GatewayAPI(
        gateway,
        docs,
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # gateway.docs: Swagger UI without a CDN
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.gateway = gateway

    # HEAD answers as GET does (FastAPI's @app.get takes GET only, and HEAD would fall through
    # to the web app's index page).
    @app.api_route("/health", methods=["GET", "HEAD"], include_in_schema=False)
    async def health() -> JSONResponse:
        ok = gateway.healthy
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "eureka": "ok" if ok else "unreachable"},
            status_code=200 if ok else 503,
        )

    @app.api_route("/metrics", methods=["GET", "HEAD"], include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    # Last, so /docs, /health and /metrics keep their routes; the web app takes every other path.
    app.include_router(docs_router())
    app.mount("/", create_web_app(web))
    return app
