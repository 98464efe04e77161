"""The app every HTTP service is built from: ``create_service_app`` and its lifespan (database,
consumers and workers, Eureka, token verification). Around the routes: servicekit.http; the
dependencies routes use: servicekit.dependencies; settings: servicekit.settings."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI

from servicekit.api import declare_common_errors
from servicekit.db import Database
from servicekit.http import RequestContextMiddleware, install_error_handlers, operations_router
from servicekit.lifecycle import BackgroundThreads
from servicekit.logging import configure_logging, get_logger
from servicekit.messaging.inbox import InboxConsumer
from servicekit.messaging.subscriptions import Subscriptions
from servicekit.ops import inbox_router
from servicekit.runtime import ServiceRuntime
from servicekit.settings import EurekaSettings, HttpServiceSettings, KafkaSettings
from servicekit.telemetry import FASTAPI_NATIVE_TELEMETRY_OFF, instrument_app
from servicekit.tokens import (
    TokenVerifier,
    jwks_fetcher,
)

log = get_logger(__name__)

# What a service consumes: its Subscriptions table (or several members of its group, one table
# each), or a function of the runtime that builds it (when its handlers need what only the
# lifespan makes).
SubscriptionTables = Subscriptions[Any] | Sequence[Subscriptions[Any]]
SubscriptionsFactory = Callable[[ServiceRuntime], SubscriptionTables]


def subscribed_consumer(
    subscriptions: Subscriptions[Any], runtime: ServiceRuntime, kafka: KafkaSettings
) -> InboxConsumer:
    """The inbox consumer of a service's Subscriptions table."""
    return InboxConsumer(
        name=subscriptions.group,
        member=subscriptions.member,
        topics=subscriptions.topics,
        handlers=subscriptions.handlers(),
        session_factory=runtime.database.sessions,
        kafka=kafka,
        batch_locks=subscriptions.batch_locks,
        consumer_overrides=subscriptions.consumer_overrides(),
        deferrable=subscriptions.deferrable,
    )


def members(tables: SubscriptionTables) -> list[Subscriptions[Any]]:
    """The tables of one service, checked: the members of a group each name themselves and
    consume topics no other member of the group consumes.

    Kafka gives each partition of a topic to one member of the group; a member acknowledges
    the events it has no handler for. Two members on one topic would each skip the other's
    events on the partitions they got: those events would never be applied.
    """
    tables = [tables] if isinstance(tables, Subscriptions) else list(tables)
    seen: dict[tuple[str, str], str] = {}
    for table in tables:
        for topic in table.topics:
            other = seen.setdefault((table.group, topic), table.member)
            if other != table.member:
                raise ValueError(
                    f"{table.group}: members {other or '(unnamed)'!r} and "
                    f"{table.member or '(unnamed)'!r} both consume {topic}"
                )
    names = [(table.group, table.member) for table in tables]
    if len(set(names)) != len(names):
        raise ValueError(f"two members of one group share a name: {names}")
    return tables


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
    subscriptions: SubscriptionTables | SubscriptionsFactory | None = None,
    error_statuses: Mapping[type[Exception], int] | None = None,
    workers: Sequence[Worker] = (),
    on_startup: StartupHook | None = None,
    jwks: JwksFactory = configured_jwks,
    eureka: EurekaSettings | None = None,
    kafka: KafkaSettings | None = None,
    discovers: bool = False,
) -> FastAPI:
    """A service app; nothing connects until the lifespan starts.

    Every app registers in Eureka (when enabled) so the gateway finds it; only one that calls
    other services (``discovers``) keeps a copy of the registry, fetched every
    EUREKA_REGISTRY_REFRESH_SECONDS: the others have no use for it.
    """
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
                fetch_jwks,
                max_lifetime_seconds=settings.token_max_lifetime_seconds,
                cache_size=settings.token_cache_size,
            ),
        )
        if eureka.enabled and discovers:
            runtime.discovery = eureka.discovery()
        jwks_source = jwks(runtime, http)
        app.state.runtime = runtime
        if on_startup is not None:
            await asyncio.to_thread(on_startup, runtime)
        stop = threading.Event()
        # A loop that dies takes the process down, so the supervisor restarts it (lifecycle).
        threads = runtime.threads = BackgroundThreads(stop)
        if subscriptions is not None:
            tables = (
                subscriptions
                if isinstance(subscriptions, (Subscriptions, Sequence))
                else subscriptions(runtime)
            )
            runtime.consumers = [
                subscribed_consumer(table, runtime, kafka) for table in members(tables)
            ]
        for consumer in runtime.consumers:
            threads.start(f"consumer-{consumer.client_id}", consumer.run)
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
    app.include_router(inbox_router())  # /ops/inbox: for ops_service, never routed
    declare_common_errors(app)
    return app
