"""order_service app: ``create_app()`` wires the parts; ``python -m order_service`` serves it."""

from __future__ import annotations

import functools
import threading
from datetime import timedelta

from fastapi import FastAPI

from order_service.adapters import saga_gauge
from order_service.adapters.catalog import fetch_products
from order_service.adapters.order_changes import OrderChangeListener, libpq_dsn
from order_service.adapters.repository import SqlOrderUnitOfWork
from order_service.api import live
from order_service.api.errors import ERROR_STATUSES
from order_service.api.routes import router
from order_service.application.live import ChangeFeed, OrderStreams
from order_service.application.service import OrderService
from order_service.consumers import SUBSCRIPTIONS
from order_service.settings import OrderSettings
from servicekit import lifecycle
from servicekit.logging import get_logger
from servicekit.messaging.unit_of_work import transaction
from servicekit.runtime import ServiceRuntime
from servicekit.service_app import create_service_app

log = get_logger(__name__)


def create_app(settings: OrderSettings | None = None) -> FastAPI:
    """The order service."""
    settings = settings or OrderSettings()

    def start(runtime: ServiceRuntime) -> None:
        runtime.extras["orders"] = OrderService(
            functools.partial(transaction, runtime.database.sessions, SqlOrderUnitOfWork),
            lookup_products=lambda ids: fetch_products(
                runtime.discovery, ids, timeout=settings.product_lookup_timeout_seconds
            ),
            saga_timeout=timedelta(seconds=settings.saga_timeout_seconds),
            pix_payment_timeout=timedelta(seconds=settings.pix_payment_timeout_seconds),
        )
        # sagas_in_flight on /metrics, counted in the database on each scrape.
        saga_gauge.install(runtime.database.engine)
        streams = runtime.extras["order_streams"] = OrderStreams(
            max_streams=settings.streams_max, heartbeat_seconds=settings.stream_heartbeat_seconds
        )
        # Streams never end by themselves: on SIGTERM they end at once, rather than holding
        # the shutdown for the server's whole grace period.
        lifecycle.on_shutdown(streams.end_all_threadsafe)

    def saga_timeouts(runtime: ServiceRuntime, stop: threading.Event) -> None:
        """Cancels stalled sagas; the deadline lives in the database, so it survives restarts."""
        orders: OrderService = runtime.extras["orders"]
        while not stop.wait(settings.timeout_scan_seconds):
            try:
                orders.time_out_due()
            except Exception:  # the next sweep tries again
                log.exception("saga_timeout_sweep_failed")

    def order_changes(runtime: ServiceRuntime, stop: threading.Event) -> None:
        """The one LISTEN connection of this instance, feeding every live status stream."""
        streams: OrderStreams = runtime.extras["order_streams"]
        feed = ChangeFeed(streams, live.snapshot_reader(runtime.database.sessions))
        listener = OrderChangeListener(libpq_dsn(settings.database_url), feed)
        try:
            listener.run(stop)
        finally:
            streams.end_all_threadsafe()

    return create_service_app(
        name="order-service",
        title="order_service",
        settings=settings,
        # The live router first: its /api/orders/events must match before /api/orders/{id}.
        routers=[live.router, router],
        subscriptions=SUBSCRIPTIONS,
        error_statuses=ERROR_STATUSES,
        workers=[saga_timeouts, order_changes],
        on_startup=start,
        discovers=True,  # asks product_service about products its read model has not seen
    )
