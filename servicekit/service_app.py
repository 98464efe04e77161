"""What every HTTP service shares: the app factory with its lifespan (database, consumers, Eureka,
token verification), request observability, error bodies, /health, /metrics, and the Annotated
dependencies routes use (``SessionDep``, ``CurrentUser``, ``AdminUser``)."""

from __future__ import annotations

import asyncio
import functools
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.api import declare_common_errors
from servicekit.context import bound
from servicekit.db import Database
from servicekit.discovery import EurekaDiscovery, EurekaRegistration
from servicekit.lifecycle import BackgroundThreads
from servicekit.logging import configure_logging, get_logger
from servicekit.messaging.inbox import InboxConsumer
from servicekit.messaging.subscriptions import Subscriptions
from servicekit.settings import KafkaSettings
from servicekit.telemetry import FASTAPI_NATIVE_TELEMETRY_OFF, instrument_app
from servicekit.tokens import (
    InvalidToken,
    KeysUnavailable,
    Principal,
    TokenVerifier,
    bearer_token,
    jwks_fetcher,
)

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


class EurekaSettings(BaseSettings):
    """Where Eureka is, the credentials it asks for, and how this instance announces itself."""

    model_config = SettingsConfigDict(env_prefix="EUREKA_", env_file=".env", extra="ignore")

    url: str = "http://127.0.0.1:8761/eureka"
    enabled: bool = True
    # Address other processes reach this instance on (what goes into the registry).
    instance_host: str = "127.0.0.1"
    renewal_interval_seconds: float = Field(default=5.0, gt=0)
    lease_duration_seconds: int = Field(default=15, ge=1)
    registry_refresh_seconds: float = Field(default=2.0, gt=0)
    # Every registry call sends these (HTTP basic); the Eureka server reads the same two names.
    # The defaults are the local ones of .env.example: change both anywhere else.
    username: str = "eureka"
    password: SecretStr = SecretStr("eureka-local-password")

    @model_validator(mode="after")
    def _check_credentials(self) -> EurekaSettings:
        # Discovery needs them as much as registration does (EUREKA_ENABLED only stops the latter).
        if not (self.username and self.password.get_secret_value()):
            raise ValueError("EUREKA_USERNAME and EUREKA_PASSWORD must both be set")
        return self

    def registration(
        self, *, app_name: str, port: int, instance_id: str | None = None
    ) -> EurekaRegistration:
        """This instance's registration under ``app_name``, announced at instance_host:port."""
        return EurekaRegistration(
            self.url,
            app_name=app_name,
            host=self.instance_host,
            port=port,
            instance_id=instance_id,
            renewal_interval=self.renewal_interval_seconds,
            lease_duration=self.lease_duration_seconds,
            username=self.username,
            password=self.password.get_secret_value(),
        )

    def discovery(self) -> EurekaDiscovery:
        """A registry view refreshed every registry_refresh_seconds."""
        return EurekaDiscovery(
            self.url,
            refresh_interval=self.registry_refresh_seconds,
            username=self.username,
            password=self.password.get_secret_value(),
        )


# The auth service's public keys, for every service and the gateway: one fixed address from
# configuration. Never looked up in Eureka: whoever could list an instance there would otherwise
# choose the keys every token is checked against.
JWKS_URL_SETTING = AliasChoices("JWKS_URL", "jwks_url")
DEFAULT_JWKS_URL = "http://127.0.0.1:8101/api/auth/.well-known/jwks.json"


def check_jwks_url(url: str) -> str:
    """An absolute http(s) URL, or a ValueError naming JWKS_URL."""
    scheme, _, rest = url.partition("://")
    if scheme not in ("http", "https") or not rest.strip("/"):
        raise ValueError("JWKS_URL must be an absolute http(s) URL of the auth service's JWKS")
    return url


class HttpServiceSettings(BaseSettings):
    """Fields of every HTTP service; each service subclasses with its own env prefix."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "postgresql+psycopg2://platform:platform@127.0.0.1:5432/postgres"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    db_pool_size: int = Field(default=10, ge=1)
    # Where the auth service's public keys are: JWKS_URL, shared by every service (no prefix).
    jwks_url: str = Field(default=DEFAULT_JWKS_URL, validation_alias=JWKS_URL_SETTING)
    # Tokens that live longer (exp - iat) are refused whatever their signature. Shared by every
    # service and the gateway (no prefix); at least the auth service's access-token TTL.
    token_max_lifetime_seconds: float = Field(
        default=900,
        gt=0,
        validation_alias=AliasChoices("TOKEN_MAX_LIFETIME_SECONDS", "token_max_lifetime_seconds"),
    )

    @field_validator("jwks_url")
    @classmethod
    def _check_jwks_url(cls, url: str) -> str:
        return check_jwks_url(url)


@dataclass
class ServiceRuntime:
    """Everything the lifespan builds; routes reach it through ``request.app.state.runtime``."""

    name: str
    settings: HttpServiceSettings
    database: Database
    verifier: TokenVerifier
    discovery: EurekaDiscovery | None = None
    registration: EurekaRegistration | None = None
    consumers: list[InboxConsumer] = field(default_factory=list)
    threads: BackgroundThreads | None = None
    extras: dict[str, Any] = field(default_factory=dict)


# What a service consumes: its Subscriptions table, or a function of the runtime that builds
# it (when its handlers need what only the lifespan makes).
SubscriptionsFactory = Callable[[ServiceRuntime], Subscriptions[Any]]


def subscribed_consumer(
    subscriptions: Subscriptions[Any], runtime: ServiceRuntime, kafka: KafkaSettings
) -> InboxConsumer:
    """The inbox consumer of a service's Subscriptions table."""
    return InboxConsumer(
        name=subscriptions.group,
        topics=subscriptions.topics,
        handlers=subscriptions.handlers(),
        session_factory=runtime.database.sessions,
        kafka=kafka,
        batch_locks=subscriptions.batch_locks,
    )


# A background worker: runs in its own thread until the event is set (e.g. a timeout sweeper).
Worker = Callable[[ServiceRuntime, threading.Event], None]
StartupHook = Callable[[ServiceRuntime], None]
JwksFactory = Callable[[ServiceRuntime, httpx.AsyncClient], Callable[[], Any]]


def configured_jwks(runtime: ServiceRuntime, client: httpx.AsyncClient) -> Callable[[], Any]:
    """JWKS fetcher: the document at JWKS_URL (never an address found in Eureka)."""
    return jwks_fetcher(url=runtime.settings.jwks_url, client=client, timeout=3.0)


def create_service_app(
    *,
    name: str,
    title: str,
    settings: HttpServiceSettings,
    routers: Sequence[APIRouter],
    subscriptions: Subscriptions[Any] | SubscriptionsFactory | None = None,
    error_statuses: Mapping[type[Exception], int] | None = None,
    workers: Sequence[Worker] = (),
    on_startup: StartupHook | None = None,
    jwks: JwksFactory = configured_jwks,
    eureka: EurekaSettings | None = None,
    kafka: KafkaSettings | None = None,
) -> FastAPI:
    """A service app; nothing connects until the lifespan starts."""
    eureka = eureka or EurekaSettings()
    kafka = kafka or KafkaSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(name, level=settings.log_level)
        database = Database(
            settings.database_url, pool_size=settings.db_pool_size, application_name=name
        )
        http = httpx.AsyncClient()

        async def fetch_jwks() -> Any:
            return await jwks_source()  # bound below: the source needs the runtime itself

        runtime = ServiceRuntime(
            name=name,
            settings=settings,
            database=database,
            verifier=TokenVerifier(
                fetch_jwks, max_lifetime_seconds=settings.token_max_lifetime_seconds
            ),
        )
        if eureka.enabled:
            runtime.discovery = eureka.discovery()
        jwks_source = jwks(runtime, http)
        app.state.runtime = runtime
        if on_startup is not None:
            await asyncio.to_thread(on_startup, runtime)
        stop = threading.Event()
        # A loop that dies takes the process down, so the supervisor restarts it (lifecycle).
        threads = runtime.threads = BackgroundThreads(stop)
        if subscriptions is not None:
            table = (
                subscriptions
                if isinstance(subscriptions, Subscriptions)
                else subscriptions(runtime)
            )
            runtime.consumers = [subscribed_consumer(table, runtime, kafka)]
        for consumer in runtime.consumers:
            threads.start(f"consumer-{consumer.name}", consumer.run)
        for worker in workers:
            threads.start(f"worker-{worker.__name__}", functools.partial(worker, runtime))
        if runtime.discovery is not None:
            await runtime.discovery.start()
        if eureka.enabled:
            runtime.registration = eureka.registration(
                app_name=name.replace("_", "-"), port=settings.port
            )
            await runtime.registration.start()
        log.info("service_started", port=settings.port)
        try:
            yield
        finally:
            # Leave the registry first, so the gateway stops sending traffic here.
            if runtime.registration is not None:
                await runtime.registration.stop()
            if runtime.discovery is not None:
                await runtime.discovery.stop()
            stop.set()
            await asyncio.to_thread(threads.join, 30)
            await http.aclose()
            database.dispose()
            log.info("service_stopped")

    # No redirect from /path/ to /path: the redirect names this instance's own address (the
    # Host the gateway sent), which must never reach a client. A trailing slash is a 404.
    app = FastAPI(
        title=title,
        lifespan=lifespan,
        redirect_slashes=False,
        telemetry=FASTAPI_NATIVE_TELEMETRY_OFF,
    )
    app.add_middleware(RequestContextMiddleware, service=name)
    instrument_app(app, service_name=name)  # spans over OTLP when configured; else nothing
    install_error_handlers(app, error_statuses or {})
    for router in routers:
        app.include_router(router)
    app.include_router(operations_router())
    declare_common_errors(app)
    return app


# -- request context and metrics ---------------------------------------------------------------


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
        consumers = {c.name: c.running for c in runtime.consumers}
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


# -- dependencies --------------------------------------------------------------------------------


# Dependencies that do no blocking work are ``async def``: FastAPI runs a plain ``def``
# dependency in the thread pool, and each such hop cost more CPU than the work itself.


async def get_runtime(request: Request) -> ServiceRuntime:
    """The service runtime built by the lifespan."""
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[ServiceRuntime, Depends(get_runtime)]


async def get_session(runtime: RuntimeDep) -> AsyncIterator[Session]:
    """A session for one request; the application layer opens (and commits) the transaction.

    Creating a session touches no connection. Closing one that still holds a connection rolls
    back over the network, so only then does the close go to a worker thread.
    """
    session = runtime.database.sessions()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


SessionDep = Annotated[Session, Depends(get_session)]


# Declares the bearer scheme in the OpenAPI document; the token itself is read below, so that
# a malformed Authorization header gets our 401 rather than the scheme's 403.
_BEARER = HTTPBearer(auto_error=False, description="access_token from POST /api/auth/login")


async def get_principal(
    request: Request,
    runtime: RuntimeDep,
    _: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)],
) -> Principal:
    """The verified caller, or 401. Identity never comes from client-set headers."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise HTTPException(
            401, "missing bearer token", headers={"WWW-Authenticate": 'Bearer realm="api"'}
        )
    try:
        return await runtime.verifier.verify(token)
    except InvalidToken as exc:
        raise HTTPException(
            401, str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        ) from exc
    except KeysUnavailable as exc:
        raise HTTPException(
            503, str(exc), headers={"Retry-After": str(exc.retry_after_seconds)}
        ) from exc


CurrentUser = Annotated[Principal, Depends(get_principal)]


async def get_admin(principal: CurrentUser) -> Principal:
    """The caller, if an admin; 403 otherwise."""
    if not principal.is_admin:
        raise HTTPException(403, "admin role required")
    return principal


AdminUser = Annotated[Principal, Depends(get_admin)]


async def correlation_id(request: Request) -> str:
    """The request's correlation id (set by RequestContextMiddleware)."""
    return str(getattr(request.state, "correlation_id", "")) or uuid.uuid4().hex


CorrelationId = Annotated[str, Depends(correlation_id)]
