"""Operators' service settings, env prefix ``OPS_``: its database, and how far each Kafka read
and each call to another service may go."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servicekit.settings import HttpServiceSettings

# The platform's services: each serves GET /ops/inbox for its own database (servicekit.ops).
PLATFORM_SERVICES = [
    "AUTH-SERVICE",
    "USER-SERVICE",
    "PRODUCT-SERVICE",
    "ORDER-SERVICE",
    "PAYMENT-SERVICE",
    "NOTIFICATION-SERVICE",
]


class OpsSettings(HttpServiceSettings):
    """The operators' API: its replay records, and the bounds of what one request reads."""

    model_config = SettingsConfigDict(env_prefix="OPS_", env_file=".env", extra="ignore")

    database_url: str = (
        "postgresql+psycopg2://ops_service:ops_service-local-password@127.0.0.1:5432/ops_service"
    )
    port: int = 8107
    # Eureka apps whose inboxes a trace asks for the order's events (JSON list).
    inbox_services: list[str] = Field(default_factory=lambda: list(PLATFORM_SERVICES))
    # Each service's answer, and each call to order_service, waits at most this long.
    service_timeout_seconds: float = Field(default=3.0, gt=0)
    # Metadata and offset lookups on the broker.
    kafka_timeout_seconds: float = Field(default=5.0, gt=0)
    # A trace reads each saga topic's partition from the order's created_at minus this margin
    # (clocks of the database and of the relay's host may differ) to its end at the call.
    trace_start_margin_seconds: float = Field(default=60.0, ge=0)
    # Bounds of one trace's read: messages of the order returned, messages read (of every
    # order on those partitions), and seconds; a trace cut short by one says truncated.
    trace_max_messages: int = Field(default=1000, ge=1)
    trace_max_scanned_messages: int = Field(default=200_000, ge=1)
    trace_timeout_seconds: float = Field(default=6.0, gt=0)
    # Dead letters shown and replayed per partition of a .dlq topic: the newest ones.
    dlq_max_letters_per_partition: int = Field(default=500, ge=1)
    dlq_read_timeout_seconds: float = Field(default=6.0, gt=0)
    # How long a replay waits for Kafka to acknowledge every message it put back.
    replay_timeout_seconds: float = Field(default=10.0, gt=0)
