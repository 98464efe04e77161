"""Request and response bodies of the operators' API (``/api/ops``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field

from ops_service.application.ports import InboxEntry, InboxSource, Replay
from ops_service.application.service import DeadLetterStatus
from ops_service.application.trace import OrderTrace
from ops_service.domain.model import KafkaRecord
from servicekit.api import RequestBody

# A Kafka topic name (at most 249 characters of [A-Za-z0-9._-]) ending in .dlq.
DeadLetterTopic = Annotated[
    str, Field(min_length=5, max_length=249, pattern=r"^[A-Za-z0-9._-]+\.dlq$")
]


class TimelineStep(BaseModel):
    """One saga step, as order_service tells it."""

    step: str
    event_type: str
    service: str
    at: datetime


class TraceMessage(BaseModel):
    """One Kafka message of the order: where it is, what it is, and its headers."""

    topic: str
    partition: int
    offset: int
    key: str | None
    event_type: str | None
    event_id: str | None
    headers: dict[str, str]
    timestamp: datetime | None

    @classmethod
    def of(cls, record: KafkaRecord) -> TraceMessage:
        """The view of one message."""
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.text_key,
            event_type=record.header("event_type"),
            event_id=record.header("event_id"),
            headers=record.text_headers(),
            timestamp=record.timestamp,
        )


class TraceInboxEntry(BaseModel):
    """One event one service's consumer applied."""

    service: str
    consumer: str
    event_id: str
    event_type: str
    topic: str
    partition: int
    offset: int
    processed_at: datetime


class InboxSourceView(BaseModel):
    """Whether a service answered for its inbox (``detail``: why not)."""

    service: str
    available: bool
    detail: str | None


class OrderTraceView(BaseModel):
    """GET /api/ops/orders/{order_id}/trace: the messages in time order (each partition's in
    offset order), the inbox entries oldest first; ``truncated`` when a bound stopped the read
    of the messages."""

    order_id: str
    correlation_id: str | None
    timeline: list[TimelineStep]
    messages: list[TraceMessage]
    inbox: list[TraceInboxEntry]
    inbox_sources: list[InboxSourceView]
    truncated: bool

    @classmethod
    def of(cls, trace: OrderTrace) -> OrderTraceView:
        """The view of a trace."""
        return cls(
            order_id=trace.order_id,
            correlation_id=trace.correlation_id,
            timeline=[TimelineStep.model_validate(s, from_attributes=True) for s in trace.timeline],
            messages=[TraceMessage.of(record) for record in trace.messages],
            inbox=[_inbox_entry(entry) for entry in trace.inbox],
            inbox_sources=[_source(source) for source in trace.inbox_sources],
            truncated=trace.truncated,
        )


def _inbox_entry(entry: InboxEntry) -> TraceInboxEntry:
    return TraceInboxEntry.model_validate(entry, from_attributes=True)


def _source(source: InboxSource) -> InboxSourceView:
    return InboxSourceView.model_validate(source, from_attributes=True)


class DeadLetterView(BaseModel):
    """One dead letter: where it is, what it was, why it died; ``replayed_at`` once a replay
    put it back."""

    topic: str
    partition: int
    offset: int
    key: str | None
    event_type: str | None
    event_id: str | None
    error: str | None
    error_type: str | None
    attempts: int | None
    dead_at: datetime | None
    consumer: str | None
    original_topic: str
    replayed_at: datetime | None

    @classmethod
    def of(cls, status: DeadLetterStatus) -> DeadLetterView:
        """The view of a dead letter."""
        letter = status.letter
        return cls(
            topic=letter.record.topic,
            partition=letter.record.partition,
            offset=letter.record.offset,
            key=letter.record.text_key,
            event_type=letter.event_type,
            event_id=letter.event_id,
            error=letter.error,
            error_type=letter.error_type,
            attempts=letter.attempts,
            dead_at=letter.dead_at,
            consumer=letter.consumer,
            original_topic=letter.original_topic,
            replayed_at=status.replayed_at,
        )


class ReplayRequest(RequestBody):
    """POST /api/ops/dlq/replay: the dead letters of these events, or all that wait."""

    topic: DeadLetterTopic
    event_ids: list[UUID] | None = Field(default=None, min_length=1, max_length=1000)


class Replayed(BaseModel):
    """202: how many messages went back on their topic, and the replay's record (none when
    nothing was waiting)."""

    replayed: int
    replay_id: str | None

    @classmethod
    def of(cls, replay: Replay | None) -> Replayed:
        """The answer to a replay (None: nothing was waiting)."""
        if replay is None:
            return cls(replayed=0, replay_id=None)
        return cls(replayed=replay.count, replay_id=replay.replay_id)


class ReplayView(BaseModel):
    """One replay: who, when, which topic and events, how many messages."""

    replay_id: str
    replayed_by: str
    replayed_at: datetime
    topic: str
    event_ids: list[str]
    count: int
