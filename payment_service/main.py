"""payment_service app: ``create_app()`` wires the parts; ``python -m payment_service`` runs it."""

from __future__ import annotations

import functools
import threading

from fastapi import FastAPI

from contracts.webhooks import InvalidSignature
from payment_service.adapters.pix_provider import PixProviderClient
from payment_service.adapters.provider import SimulatedProvider
from payment_service.adapters.repository import SqlPaymentUnitOfWork, on_calls_requested
from payment_service.api.routes import router
from payment_service.application.charging import (
    Charging,
    Doorbell,
    RetryPolicy,
    UnitOfWorkFactory,
)
from payment_service.application.webhooks import InvalidWebhook, WebhookInbox
from payment_service.consumers import COMPENSATIONS, SUBSCRIPTIONS
from payment_service.domain.model import Method, PaymentMethod
from payment_service.settings import PaymentSettings
from servicekit.messaging.unit_of_work import transaction
from servicekit.runtime import ServiceRuntime
from servicekit.service_app import create_service_app


def create_app(settings: PaymentSettings | None = None) -> FastAPI:
    """The payment service."""
    settings = settings or PaymentSettings()
    methods: dict[Method, PaymentMethod] = {
        Method.CARD: SimulatedProvider(decline_above=settings.decline_above)
    }

    def unit_of_work(runtime: ServiceRuntime) -> UnitOfWorkFactory:
        """Units of work that own their transaction (webhooks, the outcomes of calls)."""
        return functools.partial(
            transaction,
            runtime.database.sessions,
            lambda session: SqlPaymentUnitOfWork(session, methods=methods),
        )

    # Rung by every commit that makes provider calls due (consumed events, webhooks): the
    # workers wake for them instead of polling.
    doorbell = Doorbell(settings.provider_workers)

    def start(runtime: ServiceRuntime) -> None:
        on_calls_requested(runtime.database.sessions, doorbell.ring)
        runtime.extras["webhooks"] = WebhookInbox(
            unit_of_work(runtime),
            secret=settings.provider_webhook_secret.get_secret_value(),
            tolerance_seconds=settings.webhook_tolerance_seconds,
            max_bytes=settings.webhook_max_bytes,
        )

    def provider_calls(runtime: ServiceRuntime, stop: threading.Event) -> None:
        """Creates, withdraws and refunds pix charges at the provider (application/charging)."""
        Charging(
            runtime.database.sessions,
            unit_of_work(runtime),
            lambda: PixProviderClient(
                settings.provider_url,
                settings.provider_api_key.get_secret_value(),
                timeout=settings.provider_timeout_seconds,
            ),
            policy=RetryPolicy(
                initial=settings.provider_retry_initial_seconds,
                maximum=settings.provider_retry_max_seconds,
                # A claimed call is left to its worker this long: past the call's timeout.
                lease=2 * settings.provider_timeout_seconds + 1,
                idle_poll=settings.provider_poll_seconds,
            ),
            doorbell=doorbell,
        ).run(stop)

    return create_service_app(
        name="payment-service",
        title="payment_service",
        settings=settings,
        routers=[router],
        subscriptions=[
            SUBSCRIPTIONS.using(SqlPaymentUnitOfWork.joining(methods)),
            COMPENSATIONS.using(SqlPaymentUnitOfWork.joining(methods)).gathering(
                settings.compensation_gather_ms
            ),
        ],
        error_statuses={InvalidSignature: 401, InvalidWebhook: 422},
        workers=[provider_calls] * settings.provider_workers,
        on_startup=start,
    )
