"""Payment service settings, env prefix ``PAYMENT_``; the provider's limit from
``PAYMENT_DECLINE_ABOVE``."""

from __future__ import annotations

from decimal import Decimal

from pydantic import AliasChoices, Field
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
