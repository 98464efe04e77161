"""The gateway's hot path: match the route, check the token, pick an instance, stream the request
there and the response back.

Called first for every /api request (see gateway.main.GatewayAPI): a proxied request goes
through no router, no middleware stack, no dependency injection and no body buffering. Upstream
calls share one pool of keep-alive connections per instance (gateway.upstream), created at
start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterable, AsyncIterator, Coroutine
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import orjson
import structlog
from starlette.types import Receive, Scope, Send

from gateway import metrics
from gateway.auth import TokenCheck, watching_key_changes
from gateway.balancer import Balancer, InstanceSource
from gateway.headers import Forwarded, Headers, forward_request_headers, response_headers
from gateway.limits import REFUSAL_EXTENSION
from gateway.routes import Route, RouteTable, is_public, is_safe_path
from gateway.settings import GatewaySettings
from gateway.upstream import (
    REPLAY_LIMIT,
    ConnectFailed,
    PoolTimeout,
    Timeouts,
    UpstreamBroken,
    UpstreamClient,
    UpstreamError,
    UpstreamResponse,
    UpstreamTimeout,
)
from servicekit.discovery import EurekaRegistration, ServiceInstance
from servicekit.logging import HotLine, get_logger
from servicekit.settings import EurekaSettings
from servicekit.tokens import (
    InvalidToken,
    KeysUnavailable,
    TokenVerifier,
    bearer_token,
    jwks_fetcher,
)

log = get_logger(__name__)
access_log = HotLine("gateway.access")

# Safe to send twice (RFC 9110 section 9.2.2): retried on another instance even after the
# connection was made, as long as no request body was consumed.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
GATEWAY_APP = "GATEWAY"
_IDEMPOTENCY_KEY = b"idempotency-key"


def _has_idempotency_key(scope: Scope) -> bool:
    """True when the client sent a non-empty Idempotency-Key header."""
    return any(name == _IDEMPOTENCY_KEY and value for name, value in scope["headers"])


class Discovery(InstanceSource, Protocol):
    """The registry view the gateway runs on: EurekaDiscovery, or a fake in unit tests."""

    last_refresh_ok: bool

    def instances(self, app_name: str) -> list[ServiceInstance]:
        """UP instances of an app."""
        ...

    async def start(self) -> None:
        """First fetch, then refresh in the background."""
        ...

    async def stop(self) -> None:
        """Stop refreshing."""
        ...


class Upstream(Protocol):
    """What the proxy needs from the upstream client (UpstreamClient, or a fake)."""

    async def send(
        self,
        host: str,
        port: int,
        *,
        method: str,
        target: bytes,
        headers: Headers,
        body: AsyncIterable[bytes] | None,
        chunked: bool,
    ) -> UpstreamResponse:
        """Send a request, return the response head with its body still streaming."""
        ...

    async def aclose(self) -> None:
        """Close idle connections."""
        ...


class ClientDisconnected(Exception):
    """The client went away while its request body was being forwarded."""


class UpstreamStreamBroken(Exception):
    """The upstream failed after the response started: the only honest signal left is to abort
    the client's connection (raising makes the server do so), never to end the body cleanly."""


class RequestBody:
    """The client's body as an async iterator, read from ASGI ``receive`` chunk by chunk.

    What was read is kept up to ``REPLAY_LIMIT`` bytes, so that iterating again (the request
    retried on another instance) sends the same bytes and then the rest. ``replayable`` tells the
    retry logic whether that is still possible: nothing read yet, or all of it kept."""

    __slots__ = ("_kept", "_more", "_receive", "_size", "replayable")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._kept: list[bytes] = []
        self._size = 0
        self._more = True
        self.replayable = True

    @property
    def started(self) -> bool:
        """Whether any of the body was read from the client."""
        return self._size > 0 or not self._more

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if not self.replayable:
            raise RuntimeError("the request body was already consumed and not kept")
        for kept in list(self._kept):
            yield kept
        while self._more:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected
            chunk: bytes = message.get("body", b"")
            self._more = message.get("more_body", False)
            if not chunk:
                continue
            self._size += len(chunk)
            if self._size > REPLAY_LIMIT:
                self.replayable = False
                self._kept.clear()
            else:
                self._kept.append(chunk)
            yield chunk


def json_response_parts(
    status: int, detail: str, request_id: str, extra: Headers | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two ASGI messages of a gateway-made ``{"detail": ...}`` response."""
    body = orjson.dumps({"detail": detail})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
        *(extra or []),
    ]
    return (
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": body},
    )


async def _keys_not_loaded() -> dict[str, Any]:
    raise RuntimeError("token check used before Gateway.start()")


class Gateway:
    """Routing, token check, instance choice and forwarding; started and stopped by the app's
    lifespan. Collaborators can be injected (unit tests pass fakes); by default they are built
    from the settings in ``start()``, so constructing a Gateway connects nothing."""

    def __init__(
        self,
        settings: GatewaySettings,
        eureka: EurekaSettings,
        *,
        discovery: Discovery | None = None,
        verifier: TokenVerifier | None = None,
        upstream: Upstream | None = None,
    ) -> None:
        self.settings = settings
        self._forwarding_secret = settings.forwarding_secret.get_secret_value().encode() or None
        self.eureka = eureka
        self.routes = RouteTable(settings.routes)
        self.discovery: Discovery = discovery or eureka.discovery()
        self.balancer = Balancer(
            self.discovery, cooldown_seconds=settings.instance_cooldown_seconds
        )
        self.verifier: TokenVerifier | None = verifier
        self.tokens = TokenCheck(
            verifier or TokenVerifier(_keys_not_loaded), max_entries=settings.token_cache_size
        )
        self._own_upstream = upstream is None
        self.upstream: Upstream | None = upstream
        self.registration: EurekaRegistration | None = None
        self._jwks_client: httpx.AsyncClient | None = None
        self._jwks_task: asyncio.Task[None] | None = None
        self._addresses: dict[str, tuple[str, int]] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the upstream pool, load the registry and the keys, then announce the gateway."""
        settings = self.settings
        if self.upstream is None:
            self.upstream = UpstreamClient(
                Timeouts(
                    connect=settings.upstream_connect_timeout_seconds,
                    read=settings.upstream_read_timeout_seconds,
                    write=settings.upstream_write_timeout_seconds,
                    pool=settings.upstream_pool_timeout_seconds,
                ),
                max_connections_per_instance=settings.upstream_max_connections,
                max_idle_per_instance=settings.upstream_max_keepalive_connections,
                keepalive_expiry=settings.upstream_keepalive_expiry_seconds,
            )
        await self.discovery.start()
        for service in self.routes.services:
            metrics.UPSTREAM_INSTANCES.labels(service=service).set_function(
                lambda service=service: len(self.discovery.instances(service))  # type: ignore[misc]
            )
        if self.verifier is None:
            self._jwks_client = httpx.AsyncClient()
            fetch = watching_key_changes(
                jwks_fetcher(
                    url=settings.jwks_url,
                    client=self._jwks_client,
                    timeout=settings.jwks_fetch_timeout_seconds,
                ),
                # A changed key set may have withdrawn a key: re-verify every token.
                on_change=self.tokens.forget_all,
            )
            self.verifier = self.tokens.verifier = TokenVerifier(
                fetch,
                issuer=settings.token_issuer,
                audience=settings.token_audience,
                leeway=settings.token_leeway_seconds,
                max_lifetime_seconds=settings.token_max_lifetime_seconds,
                min_refresh_interval=settings.jwks_min_refresh_seconds,
            )
            # Keys loaded before the first request; while they cannot be, tokens get 503 (not
            # 401) and the refresh loop below keeps trying every second.
            await self.verifier.load_keys()
            self._jwks_task = asyncio.create_task(self._refresh_keys(), name="jwks-refresh")
        if self.eureka.enabled:
            # Gateways sharing the port (SO_REUSEPORT) register one instance each.
            instance_id = (
                f"{self.eureka.instance_host}:gateway:{settings.port}:{os.getpid()}"
                if settings.reuse_port
                else None
            )
            self.registration = self.eureka.registration(
                app_name=GATEWAY_APP, port=settings.port, instance_id=instance_id
            )
            await self.registration.start()
        log.info("gateway_started", port=settings.port, routes=settings.routes)

    async def stop(self) -> None:
        """Leave the registry, stop background work, close idle connections."""
        if self.registration is not None:
            await self.registration.stop()
        if self._jwks_task is not None:
            self._jwks_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._jwks_task
        await self.discovery.stop()
        if self._jwks_client is not None:
            await self._jwks_client.aclose()
        if self.upstream is not None and self._own_upstream:
            await self.upstream.aclose()
        log.info("gateway_stopped")

    async def _refresh_keys(self) -> None:
        """Reload the key set every jwks_refresh_seconds; every second while it fails."""
        verifier = self.verifier
        assert verifier is not None
        while True:
            await asyncio.sleep(
                self.settings.jwks_refresh_seconds
                if verifier.keys_ok
                else verifier.failed_retry_interval
            )
            await verifier.load_keys()

    @property
    def healthy(self) -> bool:
        """True when Eureka answered the last registry refresh."""
        return bool(self.discovery.last_refresh_ok)

    # -- the hot path ------------------------------------------------------------------------

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one /api request: route, authenticate, forward, record."""
        started = time.perf_counter()
        path: str = scope["path"]
        client = scope.get("client")
        forwarded = forward_request_headers(
            scope["headers"],
            client_host=client[0] if client else None,
            scheme=scope["scheme"],
            forwarding_secret=self._forwarding_secret,
        )
        structlog.contextvars.bind_contextvars(
            request_id=forwarded.request_id, correlation_id=forwarded.correlation_id
        )
        exchange = _Exchange(scope["method"], path, forwarded, send)
        try:
            route = self.routes.match(path) if is_safe_path(path) else None
            exchange.route = route
            if route is None:
                await exchange.reply(404, "no route for this path")
            elif is_public(exchange.method, path) or await self._authenticate(exchange):
                await self._forward(route, scope, receive, exchange)
        except ClientDisconnected:
            refused = refusal_of(scope)
            if refused is not None:
                # The connection's limits cut the request off (gateway.limits) and answered.
                exchange.status, exchange.detail = refused
            else:
                exchange.status = 499  # nginx's "client closed request": nobody to answer
        except UpstreamStreamBroken:
            raise
        except Exception:
            log.exception("gateway_error", path=path)
            if exchange.response_started:
                raise
            await exchange.reply(500, "internal gateway error")
        finally:
            # No clear_contextvars(): the server runs each request in a task of its own, whose
            # context copy (and the ids bound in it) ends with the request.
            self._record(exchange, time.perf_counter() - started)

    async def _authenticate(self, exchange: _Exchange) -> bool:
        """True for a valid token; otherwise answers 401 and returns False."""
        token = bearer_token(exchange.forwarded.authorization)
        if token is None:
            metrics.TOKEN_REJECTIONS.inc()
            await exchange.reply(401, "missing bearer token", _CHALLENGE)
            return False
        try:
            await self.tokens.verify(token)
        except InvalidToken as exc:
            metrics.TOKEN_REJECTIONS.inc()
            await exchange.reply(401, str(exc), _INVALID_TOKEN)
            return False
        except KeysUnavailable as exc:
            retry_after = str(exc.retry_after_seconds).encode()
            await exchange.reply(503, str(exc), [(b"retry-after", retry_after)])
            return False
        return True

    async def _forward(
        self, route: Route, scope: Scope, receive: Receive, exchange: _Exchange
    ) -> None:
        service = exchange.service = route.service
        instances = self.balancer.candidates(service)
        if not instances:
            await exchange.reply(503, f"no instance of {service} is available")
            return
        assert self.upstream is not None, "Gateway.start() was not awaited"
        forwarded = exchange.forwarded
        body = RequestBody(receive) if forwarded.has_body else None
        target: bytes = scope.get("raw_path") or scope["path"].encode()
        if scope["query_string"]:
            target += b"?" + scope["query_string"]
        attempts = instances[: 1 + self.settings.retry_attempts]
        # A request with an Idempotency-Key is recognised by the service when it comes again
        # (the first outcome is answered), so it is as safe to resend as an idempotent method.
        retryable = exchange.method in IDEMPOTENT or _has_idempotency_key(scope)
        # HEAD is asked as GET: the services' routes declare GET only, and HEAD must answer
        # as GET does (RFC 9110 section 9.3.2); the body is not passed on (_stream_back).
        method = "GET" if exchange.method == "HEAD" else exchange.method
        response: UpstreamResponse | None = None
        for index, instance in enumerate(attempts):
            exchange.instance = instance.instance_id
            exchange.attempts = index + 1
            host, port = self._address(instance)
            sent = time.perf_counter()
            try:
                response = await self.upstream.send(
                    host,
                    port,
                    method=method,
                    target=target,
                    headers=forwarded.headers,
                    body=body,
                    chunked=forwarded.chunked,
                )
            except ConnectFailed as exc:
                # Nothing reached the instance: whatever the method, the next one may take it.
                self._upstream_failed(service, instance, exc)
                self.balancer.mark_failed(instance)
                continue
            except PoolTimeout as exc:
                self._upstream_failed(service, instance, exc)
                await exchange.reply(503, f"gateway busy: no connection to {service} free")
                return
            except UpstreamTimeout as exc:
                self._upstream_failed(service, instance, exc)
                await exchange.reply(504, f"{service} did not answer in time")
                return
            except UpstreamBroken as exc:
                # The request may have reached the instance: only a method that is safe to send
                # twice, whose body was not consumed, goes to another instance.
                self._upstream_failed(service, instance, exc)
                # A connection cut before any answer is how a killed instance looks: try it last
                # until Eureka drops it or the cool-down ends.
                self.balancer.mark_failed(instance)
                if retryable and index + 1 < len(attempts) and (body is None or body.replayable):
                    continue
                await exchange.reply(502, f"{service} failed to answer the request")
                return
            upstream_seconds = time.perf_counter() - sent
            metrics.upstream_duration(service).observe(upstream_seconds)
            exchange.upstream_ms = round(upstream_seconds * 1000, 2)
            break
        if response is None:
            await exchange.reply(503, f"no instance of {service} could be reached")
            return
        await self._stream_back(response, exchange, receive)

    async def _stream_back(
        self, response: UpstreamResponse, exchange: _Exchange, receive: Receive
    ) -> None:
        send = exchange.send
        exchange.status = response.status
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": response_headers(
                        response.headers,
                        exchange.forwarded.request_id.encode(),
                        self._is_instance_address,
                    ),
                }
            )
            exchange.response_started = True
            if exchange.method == "HEAD":
                # Not read: the server sends no body for HEAD, and a GET's body may be an
                # endless stream. release() closes the upstream connection instead.
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            if is_event_stream(response.headers):
                await _until_client_leaves(self._relay_body(response, exchange), receive)
            else:
                await self._relay_body(response, exchange)
        finally:
            response.release()

    async def _relay_body(self, response: UpstreamResponse, exchange: _Exchange) -> None:
        try:
            async for data, more in response.body():
                await exchange.send({"type": "http.response.body", "body": data, "more_body": more})
        except UpstreamError as exc:
            self._upstream_failed(exchange.service or "", None, exc)
            raise UpstreamStreamBroken(str(exc)) from exc

    def _address(self, instance: ServiceInstance) -> tuple[str, int]:
        address = self._addresses.get(instance.base_url)
        if address is None:
            url = urlsplit(instance.base_url)
            address = self._addresses[instance.base_url] = (url.hostname or "", url.port or 80)
        return address

    def _is_instance_address(self, host: str, port: int) -> bool:
        """True when (host, port) is an instance of any routed service (only asked for
        responses carrying a Location or Content-Location)."""
        wanted = (host, port)
        return any(
            self._address(instance) == wanted
            for service in self.routes.services
            for instance in self.discovery.instances(service)
        )

    def _upstream_failed(
        self, service: str, instance: ServiceInstance | None, exc: UpstreamError
    ) -> None:
        metrics.UPSTREAM_ERRORS.labels(service=service, kind=exc.kind).inc()
        log.warning(
            "upstream_failed",
            upstream=service,
            instance=instance.instance_id if instance else None,
            kind=exc.kind,
            error=str(exc),
        )

    def _record(self, exchange: _Exchange, elapsed: float) -> None:
        route = exchange.route
        label = route.prefix if route is not None else metrics.UNMATCHED
        metrics.requests(label, str(exchange.status)).inc()
        metrics.request_duration(label).observe(elapsed)
        mode = self.settings.access_log
        if mode == "all" or (
            mode == "errors" and (exchange.status >= 400 or exchange.attempts > 1)
        ):
            # The path, never the query string or headers: those can carry credentials.
            access_log.info(
                "http_request",
                method=exchange.method,
                path=exchange.path,
                route=label,
                status=exchange.status,
                upstream=exchange.service,
                instance=exchange.instance,
                attempts=exchange.attempts,
                upstream_ms=exchange.upstream_ms,
                detail=exchange.detail,
                duration_ms=round(elapsed * 1000, 2),
            )


_CHALLENGE = [(b"www-authenticate", b'Bearer realm="api"')]
_INVALID_TOKEN = [(b"www-authenticate", b'Bearer realm="api", error="invalid_token"')]


class _Exchange:
    """One request as it passes through: what the client sent, where it went, what it got."""

    __slots__ = (
        "attempts",
        "detail",
        "forwarded",
        "instance",
        "method",
        "path",
        "response_started",
        "route",
        "send",
        "service",
        "status",
        "upstream_ms",
    )

    def __init__(self, method: str, path: str, forwarded: Forwarded, send: Send) -> None:
        self.method = method
        self.path = path
        self.forwarded = forwarded
        self.send = send
        self.route: Route | None = None
        self.status = 500
        self.service: str | None = None
        self.instance: str | None = None
        self.attempts = 0
        self.upstream_ms: float | None = None
        self.detail: str | None = None
        self.response_started = False

    async def reply(self, status: int, detail: str, extra: Headers | None = None) -> None:
        """Answer with the gateway's own ``{"detail": ...}``."""
        start, body = json_response_parts(status, detail, self.forwarded.request_id, extra)
        self.status = status
        self.detail = detail
        await self.send(start)
        self.response_started = True
        await self.send(body)


def is_event_stream(headers: Headers) -> bool:
    """True for a Server-Sent Events response (text/event-stream): a body that may never end."""
    return any(
        name == b"content-type" and value.split(b";", 1)[0].strip().lower() == b"text/event-stream"
        for name, value in headers
    )


async def _until_client_leaves(relay: Coroutine[Any, Any, None], receive: Receive) -> None:
    """Relay a body that may never end while watching the client's connection: when the client
    leaves, stop relaying (the upstream connection is then closed, which ends the stream at the
    service too) and raise ClientDisconnected.

    Without it nothing would notice: the server drops what is sent to a client that left, and a
    stream quiet between events would hold its upstream connection (and the service's stream)
    until the stream itself ended. Only event streams pay for the watching task.
    """
    relaying = asyncio.ensure_future(relay)
    leaving = asyncio.ensure_future(_client_left(receive))
    try:
        await asyncio.wait((relaying, leaving), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (relaying, leaving):
            task.cancel()
    if relaying.done() and not relaying.cancelled():
        relaying.result()  # the body ended (or the upstream failed: raised here)
        return
    with contextlib.suppress(asyncio.CancelledError):
        await relaying
    raise ClientDisconnected


async def _client_left(receive: Receive) -> None:
    """Return once the client's connection is gone (the request body, if any, was read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def refusal_of(scope: Scope) -> tuple[int, str] | None:
    """(status, detail) when the connection's limits refused the request mid-way (gateway.limits
    records it in the scope's extensions), else None."""
    refused = scope.get("extensions", {}).get(REFUSAL_EXTENSION)
    if refused is None:
        return None
    return int(refused["status"]), str(refused["detail"])


def is_api_path(path: str) -> bool:
    """True for the paths the proxy serves (everything under /api)."""
    return path.startswith("/api/") or path == "/api"
