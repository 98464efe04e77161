"""Payment provider settings, env prefix ``PROVIDER_``. ``PROVIDER_API_KEY`` and
``PROVIDER_WEBHOOK_SECRET`` are shared with the merchant (payment_service reads the same names)."""

from __future__ import annotations

from decimal import Decimal
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from payment_provider.domain.brcode import BrCodeError, static_pix_payload
from servicekit.settings import HttpServiceSettings


class ProviderSettings(HttpServiceSettings):
    """Where the provider keeps its charges, whom it lets in, and how it calls merchants back."""

    model_config = SettingsConfigDict(env_prefix="PROVIDER_", env_file=".env", extra="ignore")

    database_url: str = (
        "postgresql+psycopg2://payment_provider:payment_provider-local-password"
        "@127.0.0.1:5432/payment_provider"
    )
    port: int = 8201
    # The merchant's bearer token for POST /charges, GET /charges/..., refunds.
    api_key: SecretStr = SecretStr("local-provider-api-key")
    # HMAC key of the X-Provider-Signature header on every webhook.
    webhook_secret: SecretStr = SecretStr("local-provider-webhook-secret")
    # Where webhooks go when a charge names no notification_url: payment_service via the gateway.
    webhook_url: str = "http://localhost:8080/api/payments/webhooks/provider"
    # The merchant's pix account as the QR payloads carry it (BR Code fields 26, 59, 60).
    pix_key: str = "5f9c3b4e-8a1d-4c7e-9b2a-6d0e1f3a7c55"
    merchant_name: str = "ORDER PLATFORM"
    merchant_city: str = "SAO PAULO"
    expiry_scan_seconds: float = Field(default=1.0, gt=0, le=60)
    webhook_workers: int = Field(default=2, ge=1, le=32)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    webhook_retry_initial_seconds: float = Field(default=1.0, gt=0)
    webhook_retry_max_seconds: float = Field(default=300.0, gt=0)
    webhook_give_up_after_seconds: float = Field(default=3 * 24 * 3600.0, gt=0)
    webhook_idle_poll_seconds: float = Field(default=1.0, gt=0, le=60)

    @model_validator(mode="after")
    def usable(self) -> Self:
        """Refuse to start with settings that would fail later, request after request."""
        if not self.api_key.get_secret_value() or not self.webhook_secret.get_secret_value():
            raise ValueError("PROVIDER_API_KEY and PROVIDER_WEBHOOK_SECRET must not be empty")
        if self.webhook_retry_max_seconds < self.webhook_retry_initial_seconds:
            raise ValueError("PROVIDER_WEBHOOK_RETRY_MAX_SECONDS is below the initial delay")
        try:
            static_pix_payload(
                pix_key=self.pix_key,
                merchant_name=self.merchant_name,
                merchant_city=self.merchant_city,
                amount=Decimal("1.00"),
            )
        except BrCodeError as exc:
            raise ValueError(f"PROVIDER_PIX_KEY, _MERCHANT_NAME or _MERCHANT_CITY: {exc}") from exc
        return self
