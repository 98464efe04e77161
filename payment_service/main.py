"""payment_service app: ``create_app()`` wires the parts; ``python -m payment_service`` runs it."""

from __future__ import annotations

from fastapi import FastAPI

from payment_service.adapters.provider import SimulatedProvider
from payment_service.adapters.repository import SqlPaymentUnitOfWork
from payment_service.api.routes import router
from payment_service.consumers import SUBSCRIPTIONS
from payment_service.domain.model import Method
from payment_service.settings import PaymentSettings
from servicekit.service_app import create_service_app


def create_app(settings: PaymentSettings | None = None) -> FastAPI:
    """The payment service."""
    settings = settings or PaymentSettings()
    methods = {Method.CARD: SimulatedProvider(decline_above=settings.decline_above)}
    return create_service_app(
        name="payment-service",
        title="payment_service",
        settings=settings,
        routers=[router],
        subscriptions=SUBSCRIPTIONS.using(SqlPaymentUnitOfWork.joining(methods)),
    )
