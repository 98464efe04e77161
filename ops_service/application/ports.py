"""What the operators' use cases need from the world, as protocols: order_service's API, the
Kafka topics, the services' inboxes (adapters/ hold the real ones), and the replay records
(adapters/repository.py in PostgreSQL, adapters/memory.py in memory; one contract suite runs
against both)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ops_service.domain.model import DeadLetter, KafkaRecord, Position
from servicekit.messaging.unit_of_work import UnitOfWorkPort


class DependencyUnavailable(Exception):
    """503: order_service or Kafka did not answer (in time); the message says which."""


@dataclass(frozen=True, slots=True)
class TimelineStep:
    """One step of an order's saga, as order_service tells it."""

    step: str
    event_type: str
    service: str
    at: datetime


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """What order_service says about an order: enough to find its messages."""

    order_id: str
    created_at: datetime
    correlation_id: str | None
    timeline: list[TimelineStep]


class Orders(Protocol):
    """order_service's API, asked with the caller's own token."""

    async def get(self, order_id: str, *, token: str) -> OrderFacts | None:
        """The order and its timeline; None when order_service knows no such order."""
        ...


@dataclass(frozen=True, slots=True)
class KeyedMessages:
    """The messages of one key, in time order; ``truncated`` when a bound stopped the read."""

    messages: list[KafkaRecord]
    truncated: bool


class MessageLog(Protocol):
    """Kafka, as operators read and re-drive it."""

    def read_keyed(self, topics: Sequence[str], key: str, *, since: datetime) -> KeyedMessages:
        """The messages with this key on these topics, from ``since`` to the end at the call,
        read from the one partition of each topic that the key goes to."""
        ...

    def dead_letter_topics(self) -> list[str]:
        """Every ``*.dlq`` topic, sorted."""
        ...

    def dead_letters(self, topics: Sequence[str]) -> list[DeadLetter]:
        """The newest dead letters of each partition of these topics, by position."""
        ...

    def put_back(self, letters: Sequence[DeadLetter]) -> None:
        """Produce each letter to its original topic (its key, value and own headers) and wait
        until Kafka acknowledged them all; DependencyUnavailable otherwise."""
        ...


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """One event one service's consumer applied."""

    service: str
    consumer: str
    event_id: str
    event_type: str
    topic: str
    partition: int
    offset: int
    processed_at: datetime


@dataclass(frozen=True, slots=True)
class InboxSource:
    """Whether one service answered; ``detail`` says what went wrong when it did not."""

    service: str
    available: bool
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class InboxAnswer:
    """Every answering service's inbox entries, and who answered."""

    entries: list[InboxEntry]
    sources: list[InboxSource]


class Inboxes(Protocol):
    """Every service's inbox, each asked on its own (GET /ops/inbox of servicekit.ops)."""

    async def entries(self, event_ids: Sequence[str], *, token: str) -> InboxAnswer:
        """The inbox entries of these events; a service that does not answer is reported
        unavailable, never an error."""
        ...


@dataclass(frozen=True, slots=True)
class Replay:
    """One replay: who put which dead letters back, when, and how many messages."""

    replay_id: str
    replayed_by: str
    replayed_at: datetime
    topic: str
    event_ids: list[str]
    count: int


class ReplayLog(Protocol):
    """The record of replays, and of the dead letters each settled."""

    def replayed(self, topics: Sequence[str]) -> dict[Position, datetime]:
        """Every dead letter of these topics replayed so far, with when."""
        ...

    def add(self, replay: Replay, letters: Sequence[Position]) -> None:
        """Record a replay and the dead letters it settled."""
        ...


class OpsUnitOfWork(UnitOfWorkPort, Protocol):
    """One transaction of ops_service."""

    @property
    def replays(self) -> ReplayLog:
        """The replay records."""
        ...
