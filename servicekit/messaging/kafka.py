"""Kafka client configuration in one place, and idempotent topic creation."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from servicekit.logging import get_logger
from servicekit.settings import KafkaSettings

log = get_logger(__name__)

# What Producer.produce accepts as headers.
KafkaHeaders = list[tuple[str, str | bytes | None]]
# librdkafka's own messages go through stdlib logging, so they come out as JSON lines too.
_client_logger = logging.getLogger("librdkafka")


def producer_config(settings: KafkaSettings, *, client_id: str, **overrides: Any) -> dict[str, Any]:
    """Idempotent producer, acks=all: a message is acknowledged once every in-sync replica has it,
    and retries never duplicate or reorder within a partition."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": f"{settings.client_id_prefix}-{client_id}-{socket.gethostname()}",
        "logger": _client_logger,
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": "lz4",
        "linger.ms": settings.producer_linger_ms,
        "batch.size": 1_000_000,
        "queue.buffering.max.messages": 500_000,
        "queue.buffering.max.kbytes": 1_048_576,
        # A delivery report either way within this bound; the relay then retries from its cursor.
        "delivery.timeout.ms": 30_000,
    }
    config.update(overrides)
    return config


def consumer_config(
    settings: KafkaSettings,
    *,
    group_id: str,
    client_id: str,
    static_member: bool = False,
    member: str = "",
    **overrides: Any,
) -> dict[str, Any]:
    """Manual offset commits (after the database commit), start from the earliest offset;
    cooperative-sticky assignment, so a rebalance moves only the partitions that change owner
    while the others keep being consumed. ``static_member``: a group member under
    KAFKA_GROUP_INSTANCE_ID when that is set (with ``member`` appended: one process may hold
    several members of a group, and each static member needs its own id)."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "group.id": group_id,
        "client.id": f"{settings.client_id_prefix}-{client_id}-{socket.gethostname()}",
        "logger": _client_logger,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "partition.assignment.strategy": "cooperative-sticky",
        "session.timeout.ms": settings.consumer_session_timeout_ms,
        "heartbeat.interval.ms": settings.consumer_heartbeat_interval_ms,
    }
    if static_member and settings.group_instance_id:
        instance = f"{group_id}-{settings.group_instance_id}"
        config["group.instance.id"] = f"{instance}-{member}" if member else instance
    config.update(overrides)
    return config


def admin_client(settings: KafkaSettings) -> AdminClient:
    """An AdminClient for topic management."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "logger": _client_logger,
    }
    return AdminClient(config)


def ensure_topics(
    settings: KafkaSettings,
    topics: Iterable[str],
    *,
    admin: AdminClient | None = None,
    timeout: float = 15.0,
    config: dict[str, str] | None = None,
) -> None:
    """Create the topics that do not exist yet (with ``config``, e.g. their retention); an
    existing topic is left as it is."""
    wanted = sorted(set(topics))
    if not wanted:
        return
    admin = admin or admin_client(settings)
    existing = set(admin.list_topics(timeout=timeout).topics)
    missing = [name for name in wanted if name not in existing]
    if not missing:
        return
    futures = admin.create_topics(
        [
            NewTopic(
                name,
                num_partitions=settings.topic_partitions,
                replication_factor=settings.topic_replication_factor,
                config=dict(config or {}),
            )
            for name in missing
        ],
        operation_timeout=timeout,
        request_timeout=timeout,
    )
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
            log.info("kafka_topic_created", topic=name, partitions=settings.topic_partitions)
        except TimeoutError as exc:
            # As every other Kafka failure here: the callers retry a KafkaException (the relay
            # keeps its leadership and tries again), where a bare TimeoutError ended the thread.
            raise KafkaException(
                KafkaError(
                    KafkaError._TIMED_OUT,
                    f"topic {name} not created within {timeout:.0f}s",
                    retriable=True,
                )
            ) from exc
        except KafkaException as exc:
            if exc.args and exc.args[0].name() == "TOPIC_ALREADY_EXISTS":
                continue
            raise
