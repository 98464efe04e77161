"""Settings every process shares: values come from the environment (and `.env`), never from
scattered `os.environ` reads. HTTP services extend servicekit.service_app.HttpServiceSettings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    """Where Kafka is and how we talk to it; shared by the relay and every consumer."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", env_file=".env", extra="ignore")

    bootstrap_servers: str = "localhost:9092"
    # Partitions for topics we create; the key (aggregate id) keeps per-aggregate order.
    topic_partitions: int = Field(default=6, ge=1)
    # Replication factor for topics we create: 1 on a single broker, 3 in production.
    topic_replication_factor: int = Field(default=1, ge=1)
    client_id_prefix: str = "order-platform"
    # How long a producer waits to fill a batch: every saga hop pays it once.
    producer_linger_ms: float = Field(default=1.0, ge=0)
