"""product_service: ``create_app()`` wires the parts; ``python -m product_service`` serves it."""

from __future__ import annotations

import functools

from fastapi import FastAPI

from product_service.adapters.repository import SqlProductUnitOfWork
from product_service.api.errors import ERROR_STATUSES
from product_service.api.routes import categories_router, router
from product_service.consumers import SUBSCRIPTIONS
from product_service.settings import ProductSettings
from servicekit.messaging.unit_of_work import transaction
from servicekit.runtime import ServiceRuntime
from servicekit.service_app import create_service_app


def create_app(settings: ProductSettings | None = None) -> FastAPI:
    """The product service."""
    settings = settings or ProductSettings()

    def start(runtime: ServiceRuntime) -> None:
        runtime.extras["unit_of_work"] = functools.partial(
            transaction, runtime.database.sessions, SqlProductUnitOfWork
        )

    return create_service_app(
        name="product-service",
        title="product_service",
        settings=settings,
        routers=[router, categories_router],
        subscriptions=SUBSCRIPTIONS if settings.consumers_enabled else None,
        error_statuses=ERROR_STATUSES,
        on_startup=start,
    )
