"""product_service app: ``create_app()`` only; ``python -m product_service`` serves it."""

from __future__ import annotations

from fastapi import FastAPI

from product_service.api.routes import router
from product_service.consumers import build_consumers
from product_service.settings import ProductSettings
from servicekit.web import create_service_app


def create_app(settings: ProductSettings | None = None) -> FastAPI:
    """The product service."""
    settings = settings or ProductSettings()
    return create_service_app(
        name="product-service",
        title="product_service",
        settings=settings,
        routers=[router],
        consumers=build_consumers if settings.consumers_enabled else None,
    )
