"""Relay settings, env prefix ``RELAY_``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RelaySettings(BaseSettings):
    """How the relay finds its databases and how hard it batches."""

    model_config = SettingsConfigDict(env_prefix="RELAY_", env_file=".env", extra="ignore")

    # name -> libpq URL of every service database to drain, as JSON:
    # RELAY_DATABASES='{"order": "postgresql://platform:platform@127.0.0.1:5432/order_service"}'
    databases: dict[str, str] = Field(default_factory=dict)
    # Rows read per query; several batches are in flight to Kafka at once (pipelining).
    batch_size: int = Field(default=2000, ge=1, le=50_000)
    max_in_flight_batches: int = Field(default=4, ge=1, le=64)
    # Fallback poll when no NOTIFY arrives (a lost notification costs at most this much latency).
    poll_interval_seconds: float = Field(default=1.0, gt=0)
    # How often, at most, the acknowledged position is written while events flow; a crash
    # re-publishes up to this much (the inboxes drop the duplicates).
    mark_interval_seconds: float = Field(default=0.2, ge=0)
    # How often a standby tries to take the leader's advisory lock.
    standby_retry_seconds: float = Field(default=1.0, gt=0)
    # Published rows older than this are deleted, in chunks, every cleanup interval.
    retention_seconds: float = Field(default=3600.0, ge=0)
    cleanup_interval_seconds: float = Field(default=60.0, gt=0)
    # How long SIGTERM waits for in-flight messages to be acknowledged before exiting.
    shutdown_timeout_seconds: float = Field(default=10.0, gt=0)
    http_host: str = "127.0.0.1"
    http_port: int = 8190
    log_level: str = "INFO"
