"""payment_provider app: ``create_app()`` only; ``python -m payment_provider`` serves it.

A stand-in for a payment service provider: its own database, its own API, webhooks to the
merchant. Not a platform service: it registers nowhere and verifies no platform tokens; the
merchant (payment_service) reaches it at ``PAYMENT_PROVIDER_URL`` with ``PROVIDER_API_KEY``.
"""

from __future__ import annotations

import threading

from fastapi import FastAPI

from payment_provider.adapters.webhook_http import HttpWebhookTransport
from payment_provider.api.dependencies import ProviderContext
from payment_provider.api.routes import install_charge_error_handlers, router
from payment_provider.application.charges import Charges, Merchant
from payment_provider.application.delivery import DeliveryPolicy, Doorbell, WebhookDelivery
from payment_provider.application.expiry import run_expiry
from payment_provider.settings import ProviderSettings
from servicekit.runtime import ServiceRuntime
from servicekit.service_app import create_service_app
from servicekit.settings import EurekaSettings


def create_app(settings: ProviderSettings | None = None) -> FastAPI:
    """The payment provider."""
    settings = settings or ProviderSettings()
    doorbell = Doorbell()  # rung after every commit that queued a webhook
    charges = Charges(
        merchant=Merchant(
            pix_key=settings.pix_key, name=settings.merchant_name, city=settings.merchant_city
        ),
        default_notification_url=settings.webhook_url,
        on_webhooks_queued=doorbell.ring,
    )
    policy = DeliveryPolicy(
        retry_initial=settings.webhook_retry_initial_seconds,
        retry_max=settings.webhook_retry_max_seconds,
        give_up_after=settings.webhook_give_up_after_seconds,
        idle_poll=settings.webhook_idle_poll_seconds,
    )

    def expire_charges(runtime: ServiceRuntime, stop: threading.Event) -> None:
        run_expiry(runtime.database.sessions, charges, stop, interval=settings.expiry_scan_seconds)

    def deliver_webhooks(runtime: ServiceRuntime, stop: threading.Event) -> None:
        WebhookDelivery(
            runtime.database.sessions,
            lambda: HttpWebhookTransport(timeout=settings.webhook_timeout_seconds),
            secret=settings.webhook_secret.get_secret_value(),
            policy=policy,
            doorbell=doorbell,
        ).run(stop)

    app = create_service_app(
        name="payment-provider",
        title="payment_provider",
        settings=settings,
        routers=[router],
        workers=[expire_charges, *[deliver_webhooks] * settings.webhook_workers],
        eureka=EurekaSettings(enabled=False),  # not a platform service: found by its URL
    )
    app.state.provider = ProviderContext(charges=charges, api_key=settings.api_key)
    install_charge_error_handlers(app)
    return app
