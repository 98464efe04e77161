"""The outbox writer: events join the caller's SQLAlchemy session and commit or roll back with the
business change. Nothing here talks to Kafka; the relay publishes committed rows."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, Table, Text, insert
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Session

from servicekit.messaging.envelope import EventRegistry

metadata = MetaData()

# Mirrors MESSAGING_DDL for inserts and reads; the DDL itself lives in schema.py.
outbox_table = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("aggregate_type", Text, nullable=False),
    Column("aggregate_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("headers", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True)),
    Column("event_version", Integer, nullable=False),
)


def add_event(
    session: Session,
    *,
    aggregate_type: str,
    aggregate_id: str | uuid.UUID,
    event_type: str,
    payload: BaseModel | Mapping[str, Any],
    version: int = 1,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    registry: EventRegistry | None = None,
    event_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Write one event into the outbox within ``session``'s transaction; returns its event_id.

    ``correlation_id``/``causation_id`` travel in the headers column, where the relay finds them
    for the envelope and the Kafka headers; other string headers (traceparent, ...) ride along.
    """
    event_id = event_id or uuid.uuid4()
    if registry is not None:
        body = registry.dump(event_type, payload, version)
    elif isinstance(payload, BaseModel):
        body = payload.model_dump(mode="json")
    else:
        body = dict(payload)
    all_headers = {key: str(value) for key, value in (headers or {}).items()}
    if correlation_id:
        all_headers["correlation_id"] = correlation_id
    if causation_id:
        all_headers["causation_id"] = causation_id
    session.execute(
        insert(outbox_table).values(
            event_id=event_id,
            aggregate_type=aggregate_type,
            aggregate_id=str(aggregate_id),
            event_type=event_type,
            payload=body,
            headers=all_headers,
            event_version=version,
        )
    )
    return event_id
