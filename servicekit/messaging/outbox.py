"""The outbox writer: events join the caller's SQLAlchemy session and commit or roll back with the
business change. Nothing here talks to Kafka; the relay publishes committed rows.

Per-aggregate order. The relay publishes in (transaction id, row id) order, and PostgreSQL hands
out a transaction id at the first write, before that write waits for any row lock. Two
transactions racing for one aggregate's row can therefore get their ids in the opposite order to
the one in which they commit. So a transaction that emits events for an aggregate takes the
aggregate's advisory lock (which assigns no transaction id) *before its first write*:
:func:`lock_aggregate`. Then whoever writes the aggregate second also gets the larger id, and
events of one aggregate reach Kafka in the order they were written. :func:`add_event` enforces it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson
from pydantic import BaseModel
from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Session

from servicekit.context import current as current_context
from servicekit.db import sql, sql_later
from servicekit.ids import new_id
from servicekit.messaging.envelope import EventRegistry

metadata = MetaData()

# Mirrors MESSAGING_DDL for reads (tests, tools); the DDL itself lives in schema.py, and the
# hot insert below is plain SQL.
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


class AggregateOrderError(RuntimeError):
    """An event was added for an aggregate whose lock was not taken before the first write."""


_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtextextended(%(key)s, 0))"
_XID_ASSIGNED_SQL = "SELECT pg_current_xact_id_if_assigned() IS NOT NULL"
_INSERT_SQL = (
    "INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type, payload, headers,"
    " event_version) VALUES (%(event_id)s::uuid, %(aggregate_type)s, %(aggregate_id)s,"
    " %(event_type)s, %(payload)s::jsonb, %(headers)s::jsonb, %(event_version)s)"
)


def lock_aggregate(session: Session, aggregate_type: str, aggregate_id: str | uuid.UUID) -> None:
    """Serialise writers of one aggregate until commit; call before the transaction's first write.

    Lock several aggregates in a fixed (sorted) order to rule out deadlocks.
    """
    key = f"{aggregate_type}:{aggregate_id}"
    locked = _locked_aggregates(session)
    if key not in locked:
        if session.info.get("outbox_locks_sealed") is session.get_transaction():
            raise AggregateOrderError(
                f"{key} was not locked before this transaction's first write (the inbox "
                "consumer's batch_locks must name every aggregate its handlers lock)"
            )
        # Queued: taken before the next statement, in the same round trip (sql_later).
        sql_later(session, _LOCK_SQL, {"key": key})
        locked.add(key)


def seal_aggregate_locks(session: Session) -> None:
    """From now on this transaction may not lock another aggregate (lock_aggregate raises).

    For a caller that took every lock up front and then runs code that would otherwise lock
    more after writing: the inbox consumer's batches.
    """
    session.info["outbox_locks_sealed"] = session.get_transaction()


def _locked_aggregates(session: Session) -> set[str]:
    transaction = session.get_transaction()
    held = session.info.get("outbox_locked_aggregates")
    if held is None or held[0] is not transaction:
        held = (transaction, set())
        session.info["outbox_locked_aggregates"] = held
    locks: set[str] = held[1]
    return locks


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
    key = f"{aggregate_type}:{aggregate_id}"
    if key not in _locked_aggregates(session):
        if sql(session, _XID_ASSIGNED_SQL).scalar_one():
            raise AggregateOrderError(
                f"lock_aggregate(session, {aggregate_type!r}, {str(aggregate_id)!r}) must run "
                "before the transaction's first write, so that this aggregate's events are "
                "published in the order they were written"
            )
        lock_aggregate(session, aggregate_type, aggregate_id)
    event_id = event_id or new_id()
    if registry is not None:
        body = registry.dump(event_type, payload, version)
    elif isinstance(payload, BaseModel):
        body = payload.model_dump(mode="json")
    else:
        body = dict(payload)
    # Whatever the caller does not say comes from the request or event being handled.
    context = current_context()
    correlation_id = correlation_id or context.correlation_id
    causation_id = causation_id or context.causation_id
    all_headers = {key: str(value) for key, value in (headers or {}).items()}
    if context.traceparent and "traceparent" not in all_headers:
        all_headers["traceparent"] = context.traceparent
    if correlation_id:
        all_headers["correlation_id"] = correlation_id
    if causation_id:
        all_headers["causation_id"] = causation_id
    sql_later(
        session,
        _INSERT_SQL,
        {
            "event_id": str(event_id),
            "aggregate_type": aggregate_type,
            "aggregate_id": str(aggregate_id),
            "event_type": event_type,
            "payload": orjson.dumps(body).decode(),
            "headers": orjson.dumps(all_headers).decode(),
            "event_version": version,
        },
    )
    return event_id
