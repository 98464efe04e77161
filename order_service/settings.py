"""Order service settings, env prefix ``ORDER_`` (the saga timeout also as ``SAGA_TIMEOUT``)."""

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from servicekit.settings import HttpServiceSettings


class OrderSettings(HttpServiceSettings):
    """Where orders live and how long a saga may stall."""

    model_config = SettingsConfigDict(env_prefix="ORDER_", env_file=".env", extra="ignore")

    database_url: str = "postgresql+psycopg2://order_service:order_service-local-password@127.0.0.1:5432/order_service"
    port: int = 8104
    # A saga not finished this long after the order was placed is cancelled with compensation;
    # the same deadline travels in order.created, so payment never charges after it.
    saga_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        validation_alias=AliasChoices("SAGA_TIMEOUT", "ORDER_SAGA_TIMEOUT_SECONDS"),
    )
    # The same for an order paid by pix: the customer has this long to pay the QR code (the
    # charge at the provider expires at the deadline too).
    pix_payment_timeout_seconds: float = Field(
        default=900.0,
        gt=0,
        validation_alias=AliasChoices("PIX_PAYMENT_TIMEOUT", "ORDER_PIX_PAYMENT_TIMEOUT_SECONDS"),
    )
    timeout_scan_seconds: float = Field(default=1.0, gt=0)
    # Products unknown to the local read model are looked up in product_service with this bound.
    product_lookup_timeout_seconds: float = Field(default=2.0, gt=0)
    # Live status streams (GET /api/orders/{order_id}/events and /api/orders/events) open at
    # once on one instance; beyond, 503 with Retry-After.
    streams_max: int = Field(default=1000, ge=1)
    # A stream with nothing to send for this long sends a keep-alive comment: below the
    # gateway's upstream read timeout (GATEWAY_UPSTREAM_READ_TIMEOUT_SECONDS, 15 s), which would
    # otherwise end an idle stream, and below the idle timeouts of proxies in front.
    stream_heartbeat_seconds: float = Field(default=10.0, gt=0, le=300)
