"""order_service app: ``create_app()`` only; ``python -m order_service`` serves it."""

from __future__ import annotations

import threading
from datetime import timedelta

from fastapi import FastAPI

from order_service.api.routes import router
from order_service.application.handlers import OrderDeps, sweep_timeouts
from order_service.consumers import build_consumers
from order_service.settings import OrderSettings
from servicekit.logging import get_logger
from servicekit.web import ServiceRuntime, create_service_app

log = get_logger(__name__)


def create_app(settings: OrderSettings | None = None) -> FastAPI:
    """The order service."""
    settings = settings or OrderSettings()

    def start(runtime: ServiceRuntime) -> None:
        runtime.extras["orders"] = OrderDeps(
            saga_timeout=timedelta(seconds=settings.saga_timeout_seconds)
        )

    def saga_timeouts(runtime: ServiceRuntime, stop: threading.Event) -> None:
        """Cancels stalled sagas; the deadline lives in the database, so it survives restarts."""
        deps: OrderDeps = runtime.extras["orders"]
        while not stop.wait(settings.timeout_scan_seconds):
            try:
                sweep_timeouts(runtime.database.sessions, deps)
            except Exception:  # the next sweep tries again
                log.exception("saga_timeout_sweep_failed")

    return create_service_app(
        name="order-service",
        title="order_service",
        settings=settings,
        routers=[router],
        consumers=build_consumers,
        workers=[saga_timeouts],
        on_startup=start,
    )
