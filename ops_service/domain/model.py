"""What operators look at: Kafka messages as read from a partition, dead letters (a message a
consumer gave up on, with why in its ``dlq.*`` headers), and which dead letters a replay puts
back. Pure: no Kafka client, no database."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ops_service.domain.errors import NoPendingDeadLetters

# Headers the inbox consumer adds to a message's copy in its DLQ (servicekit.messaging.inbox
# dead_letter_headers); a replay strips them, so the message goes back as it first came.
DLQ_HEADER_PREFIX = "dlq."
DLQ_SUFFIX = ".dlq"

# (topic, partition, offset): where a message is.
Position = tuple[str, int, int]


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """One message as a partition holds it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    timestamp: datetime | None

    @property
    def position(self) -> Position:
        """Where the message is."""
        return (self.topic, self.partition, self.offset)

    @property
    def text_key(self) -> str | None:
        """The key as text (undecodable bytes replaced)."""
        return None if self.key is None else self.key.decode(errors="replace")

    def header(self, name: str) -> str | None:
        """The last value of a header, as text; None when absent."""
        found = None
        for key, value in self.headers:
            if key == name:
                found = None if value is None else value.decode(errors="replace")
        return found

    def text_headers(self) -> dict[str, str]:
        """Every header as text (a repeated name keeps its last value)."""
        return {
            key: "" if value is None else value.decode(errors="replace")
            for key, value in self.headers
        }


def in_time_order(partitions: Iterable[Sequence[KafkaRecord]]) -> list[KafkaRecord]:
    """The messages of several partitions as one list in time order, each partition's messages
    still in offset order: a merge by broker timestamp never reorders within one input."""
    return list(heapq.merge(*partitions, key=_timestamp_key))


def _timestamp_key(record: KafkaRecord) -> float:
    return record.timestamp.timestamp() if record.timestamp is not None else 0.0


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message on a ``<topic>.dlq`` topic: a copy of the message a consumer gave up on, with
    its own headers and then the ``dlq.*`` ones saying what failed, where and when."""

    record: KafkaRecord

    @property
    def event_id(self) -> str | None:
        """The dead message's event id (its own header); None for a message that had none."""
        return self.record.header("event_id")

    @property
    def event_type(self) -> str | None:
        """The dead message's event type (its own header)."""
        return self.record.header("event_type")

    @property
    def error(self) -> str | None:
        """The error, as the consumer saw it."""
        return self.record.header("dlq.error")

    @property
    def error_type(self) -> str | None:
        """The error's class name."""
        return self.record.header("dlq.error_type")

    @property
    def consumer(self) -> str | None:
        """The consumer group that gave up."""
        return self.record.header("dlq.consumer")

    @property
    def attempts(self) -> int | None:
        """How often the consumer tried."""
        return _integer(self.record.header("dlq.attempts"))

    @property
    def dead_at(self) -> datetime | None:
        """When the consumer gave up (its header, else the DLQ message's timestamp)."""
        failed_at = self.record.header("dlq.failed_at")
        if failed_at:
            try:
                return datetime.fromisoformat(failed_at).astimezone(UTC)
            except ValueError:
                pass
        return self.record.timestamp

    @property
    def original_topic(self) -> str:
        """Where the message came from, hence where a replay puts it back."""
        return self.record.header("dlq.original_topic") or self.record.topic.removesuffix(
            DLQ_SUFFIX
        )

    @property
    def origin(self) -> Position:
        """The original message's position. Every consumer group that gave up on one message
        wrote its own copy; they share this, and one replay of it serves them all."""
        partition = _integer(self.record.header("dlq.original_partition"))
        offset = _integer(self.record.header("dlq.original_offset"))
        if partition is None or offset is None:
            return self.record.position  # not written by our consumers: itself is the origin
        return (self.original_topic, partition, offset)

    def replay_headers(self) -> list[tuple[str, bytes | None]]:
        """The message's own headers, without the ``dlq.*`` ones."""
        return [
            (key, value)
            for key, value in self.record.headers
            if not key.startswith(DLQ_HEADER_PREFIX)
        ]


def _integer(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class ReplayBatch:
    """What one replay puts back: one message per original (``messages``), and every dead
    letter it settles (``letters``: every consumer's copy of those originals)."""

    messages: list[DeadLetter]
    letters: list[DeadLetter]

    @property
    def event_ids(self) -> list[str]:
        """The event ids put back, in order, once each (messages without one have none)."""
        return list(dict.fromkeys(m.event_id for m in self.messages if m.event_id))


def choose_replay(
    letters: Sequence[DeadLetter],
    replayed: set[Position],
    *,
    topic: str,
    event_ids: Sequence[str] | None,
) -> ReplayBatch:
    """The dead letters a replay puts back: those not replayed before (a DLQ is append-only, so
    a letter replayed once stays there, and putting it back again would only multiply copies),
    of the given events or all of them; each original message once, however many consumers
    dead-lettered it. NoPendingDeadLetters names the asked events with no such letter."""
    pending = [letter for letter in letters if letter.record.position not in replayed]
    if event_ids is not None:
        wanted = set(event_ids)
        pending = [letter for letter in pending if letter.event_id in wanted]
        missing = sorted(wanted - {letter.event_id for letter in pending})
        if missing:
            raise NoPendingDeadLetters(topic, missing)
    originals: dict[Position, DeadLetter] = {}
    for letter in pending:
        originals.setdefault(letter.origin, letter)
    return ReplayBatch(messages=list(originals.values()), letters=pending)
