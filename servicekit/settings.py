"""One settings base for every process: values come from the environment (and `.env`), never from
scattered `os.environ` reads."""

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


class ServiceSettings(BaseSettings):
    """Fields every service has; a service subclasses this with its own env prefix."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    service_name: str = "service"
    database_url: str = "postgresql+psycopg2://platform:platform@127.0.0.1:5432/postgres"
    log_level: str = "INFO"
    log_json: bool = True
