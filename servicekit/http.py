"""What every HTTP service does around its routes: request and correlation ids bound to every
log line, one metric sample and access line per request, error bodies with honest statuses
(never a stack trace), and /health and /metrics."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Mapping

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.context import bound
from servicekit.logging import get_logger
from servicekit.runtime import ServiceRuntime

log = get_logger(__name__)

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests served.", ["service", "method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time to serve an HTTP request.",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class RequestContextMiddleware:
    """Binds request and correlation ids to every log line of a request, echoes X-Request-ID,
    and records one metric sample and one access-log line per request (pure ASGI: no
    per-request task or body buffering)."""

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service
        self.log = get_logger("http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id = (headers.get(b"x-request-id") or b"").decode() or uuid.uuid4().hex
        correlation_id = (headers.get(b"x-correlation-id") or b"").decode() or request_id
        traceparent = (headers.get(b"traceparent") or b"").decode() or None
        scope.setdefault("state", {})["correlation_id"] = correlation_id
        with bound(correlation_id=correlation_id, traceparent=traceparent, request_id=request_id):
            await self._serve(scope, receive, send, request_id)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            method = scope["method"]
            HTTP_REQUESTS.labels(self.service, method, template, str(status)).inc()
            HTTP_DURATION.labels(self.service, method, template).observe(elapsed)
            if template not in ("/health", "/metrics"):
                self.log.info(
                    "http_request",
                    method=method,
                    path=scope["path"],
                    route=template,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                )


def install_error_handlers(
    app: FastAPI, statuses: Mapping[type[Exception], int] | None = None
) -> None:
    """Errors as ``{"detail": ...}`` with an honest status, never a stack trace. ``statuses``
    maps a service's domain errors to the status each answers with, the message as detail, so
    routes need no try/except."""

    async def domain_error(_: Request, exc: Exception) -> JSONResponse:
        status = next(code for kind, code in (statuses or {}).items() if isinstance(exc, kind))
        return JSONResponse({"detail": str(exc)}, status_code=status)

    for kind in statuses or {}:
        app.add_exception_handler(kind, domain_error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette's Allow names the methods of the first route matching the path only;
            # a path served by several routes (GET and POST /api/orders) allows them all.
            headers["Allow"] = ", ".join(_allowed_methods(request))
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=headers)
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default body echoes the input back: that would return passwords and tokens.
        errors = [
            {
                "loc": list(error.get("loc", ())),
                "msg": error.get("msg", ""),
                "type": error.get("type"),
            }
            for error in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(DBAPIError)
    async def database_error(_: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated or getattr(exc.orig, "pgcode", None) is None:
            log.warning("database_unavailable", error=str(exc.orig).strip())
            return JSONResponse({"detail": "database unavailable, try again"}, status_code=503)
        log.exception("database_error")
        return JSONResponse({"detail": "internal error"}, status_code=500)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", error_type=type(exc).__name__)
        return JSONResponse({"detail": "internal error"}, status_code=500)


def _allowed_methods(request: Request) -> list[str]:
    """Every method the API document declares for this request's path (and HEAD with GET).

    Read from the OpenAPI paths rather than the router, whose routes FastAPI wraps in private
    types: the document is what clients see, so Allow agrees with it by construction.
    """
    document = request.app.openapi()
    allowed: set[str] = set()
    for template, operations in document.get("paths", {}).items():
        if re.fullmatch(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)), request.url.path):
            allowed.update(method.upper() for method in operations)
    if "GET" in allowed:
        allowed.add("HEAD")
    return sorted(allowed)


def operations_router() -> APIRouter:
    """GET /health (503 until the database and consumers answer) and GET /metrics."""
    router = APIRouter(tags=["operations"])

    @router.get("/health")
    async def health(request: Request) -> JSONResponse:
        runtime: ServiceRuntime = request.app.state.runtime
        database_ok = await asyncio.to_thread(runtime.database.ping)
        consumers: dict[str, bool] = {}
        for consumer in runtime.consumers:  # a group is running when all its members are
            consumers[consumer.name] = consumers.get(consumer.name, True) and consumer.running
        registered = runtime.registration.registered if runtime.registration else None
        ok = database_ok and all(consumers.values())
        body = {
            "status": "ok" if ok else "unavailable",
            "database": "ok" if database_ok else "unreachable",
            "consumers": consumers,
            "eureka_registered": registered,
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return router
