"""payment_service app: ``create_app()`` only; ``python -m payment_service`` serves it."""

from __future__ import annotations

import functools

from fastapi import FastAPI

from payment_service.adapters.provider import SimulatedProvider
from payment_service.api.routes import router
from payment_service.consumers import build_consumers
from payment_service.settings import PaymentSettings
from servicekit.web import create_service_app


def create_app(settings: PaymentSettings | None = None) -> FastAPI:
    """The payment service."""
    settings = settings or PaymentSettings()
    provider = SimulatedProvider(decline_above=settings.decline_above)
    return create_service_app(
        name="payment-service",
        title="payment_service",
        settings=settings,
        routers=[router],
        consumers=functools.partial(build_consumers, provider=provider),
    )
