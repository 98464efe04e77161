"""Payment service settings, env prefix ``PAYMENT_``; the simulated card provider's limit from
``PAYMENT_DECLINE_ABOVE``; the pix payment provider at ``PAYMENT_PROVIDER_URL`` with the two
secrets it shares with it, ``PROVIDER_API_KEY`` and ``PROVIDER_WEBHOOK_SECRET``."""

from __future__ import annotations

from decimal import Decimal
from typing import Self

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from servicekit.settings import HttpServiceSettings


class PaymentSettings(HttpServiceSettings):
    """Where the payments live, and when the simulated provider says no."""

    model_config = SettingsConfigDict(
        env_prefix="PAYMENT_", env_file=".env", extra="ignore", populate_by_name=True
    )

    database_url: str = "postgresql+psycopg2://payment_service:payment_service-local-password@127.0.0.1:5432/payment_service"
    port: int = 8105
    # Spelled out (the API documents PAYMENT_DECLINE_ABOVE), so it never depends on the prefix.
    decline_above: Decimal = Field(
        default=Decimal("5000.00"),
        ge=0,
        validation_alias=AliasChoices("PAYMENT_DECLINE_ABOVE"),
    )
    # The pix payment provider (payment_provider/): where it is, the merchant's API key, and
    # the key of its webhooks' signatures (the names the provider reads too).
    provider_url: str = "http://127.0.0.1:8201"
    provider_api_key: SecretStr = Field(
        default=SecretStr("local-provider-api-key"),
        validation_alias=AliasChoices("PROVIDER_API_KEY"),
    )
    provider_webhook_secret: SecretStr = Field(
        default=SecretStr("local-provider-webhook-secret"),
        validation_alias=AliasChoices("PROVIDER_WEBHOOK_SECRET"),
    )
    # Calls to the provider: how many at once (worker threads; claims skip each other's rows),
    # each one's timeout, and retries doubling from INITIAL to MAX seconds
    # (jittered) until it succeeds. An idle worker is woken by the commit that makes a call due,
    # sleeps until the next retry or lease falls due, and looks anyway after POLL seconds (a
    # call another instance recorded and could not make).
    provider_workers: int = Field(default=4, ge=1, le=32)
    provider_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    provider_retry_initial_seconds: float = Field(default=0.5, gt=0)
    provider_retry_max_seconds: float = Field(default=30.0, gt=0)
    provider_poll_seconds: float = Field(default=2.0, gt=0, le=60)
    # The group's member for compensations (order.cancelled, order.rejected: no order waits on
    # them) gathers its fetches: the broker holds each this long and answers with every event of
    # the orders topic that came meanwhile (0: each as soon as it is written, one request each).
    # 500 ms is also how long an idle consumer's fetch waits anyway: gathering adds no requests
    # when nothing happens.
    compensation_gather_ms: int = Field(default=500, ge=0, le=5_000)
    # A webhook signed longer ago than this (or this far in the future) is refused (401).
    webhook_tolerance_seconds: int = Field(default=300, ge=1, le=3600)
    # Larger webhook bodies are refused (413) before they are read further.
    webhook_max_bytes: int = Field(default=65536, ge=1024, le=1048576)

    @model_validator(mode="after")
    def usable(self) -> Self:
        """Refuse to start with settings that would fail later, call after call."""
        if not self.provider_webhook_secret.get_secret_value():
            raise ValueError("PROVIDER_WEBHOOK_SECRET must not be empty")
        if self.provider_retry_max_seconds < self.provider_retry_initial_seconds:
            raise ValueError("PAYMENT_PROVIDER_RETRY_MAX_SECONDS is below the initial delay")
        return self
