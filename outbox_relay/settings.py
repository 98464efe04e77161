"""Relay settings, env prefix ``RELAY_``."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator
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
    # The leader's lease: it runs a statement at least every heartbeat, and a standby ends the
    # leader's session once the server has seen none from it for the lease (a hung leader, e.g.
    # SIGSTOP, keeps its connection and its lock otherwise). Takeover of a hung leader takes
    # lease + up to one standby retry.
    heartbeat_seconds: float = Field(default=0.5, gt=0)
    lease_seconds: float = Field(default=3.0, gt=0)
    # Published rows older than this are deleted, in chunks, every cleanup interval.
    retention_seconds: float = Field(default=3600.0, ge=0)
    cleanup_interval_seconds: float = Field(default=60.0, gt=0)
    # How long SIGTERM waits for in-flight messages to be acknowledged before exiting.
    shutdown_timeout_seconds: float = Field(default=10.0, gt=0)
    http_host: str = "127.0.0.1"
    http_port: int = 8190
    log_level: str = "INFO"
    # Consumer lag on /metrics (outbox_relay/consumer_lag.py): groups whose whole name matches
    # (the services' groups; not the tests' or console consumers'), read from Kafka at most once
    # per LAG_CACHE_SECONDS, each Kafka call bounded by LAG_TIMEOUT_SECONDS, at most
    # LAG_MAX_PARTITIONS (group, partition) series.
    lag_groups: str = ".+-service"
    lag_cache_seconds: float = Field(default=4.0, ge=0)
    lag_timeout_seconds: float = Field(default=3.0, gt=0, le=30)
    lag_max_partitions: int = Field(default=2000, ge=1, le=100_000)

    @model_validator(mode="after")
    def _check_lease(self) -> RelaySettings:
        # A few missed heartbeats (a GC pause, a busy machine) must not cost the leadership.
        if self.lease_seconds < 3 * self.heartbeat_seconds:
            raise ValueError(
                "RELAY_LEASE_SECONDS must be at least 3 x RELAY_HEARTBEAT_SECONDS"
                f" ({self.lease_seconds} < 3 x {self.heartbeat_seconds})"
            )
        return self

    @field_validator("lag_groups")
    @classmethod
    def _check_lag_groups(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"RELAY_LAG_GROUPS is not a regular expression: {exc}") from exc
        return pattern
