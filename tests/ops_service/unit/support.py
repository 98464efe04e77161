"""Dead letters and Kafka messages as the unit tests need them, and a MessageLog fake."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ops_service.application.ports import DependencyUnavailable, KeyedMessages
from ops_service.domain.model import DeadLetter, KafkaRecord

T0 = datetime(2026, 11, 29, 19, 35, 37, tzinfo=UTC)


def record(
    topic: str,
    partition: int,
    offset: int,
    *,
    key: str | None = "k",
    headers: dict[str, str] | None = None,
    at: datetime = T0,
) -> KafkaRecord:
    return KafkaRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        key=None if key is None else key.encode(),
        value=b"{}",
        headers=tuple((k, v.encode()) for k, v in (headers or {}).items()),
        timestamp=at,
    )


def dead_letter(
    offset: int,
    *,
    event_id: str | None,
    consumer: str = "product-service",
    origin_offset: int = 7,
    topic: str = "order.events.dlq",
) -> DeadLetter:
    """A copy a consumer wrote of the message at order.events partition 2, ``origin_offset``."""
    own = {"event_id": event_id, "event_type": "order.created"} if event_id else {}
    return DeadLetter(
        record(
            topic,
            2,
            offset,
            headers={
                **own,
                "correlation_id": "c-1",
                "dlq.error": "ValueError('boom')",
                "dlq.error_type": "ValueError",
                "dlq.attempts": "5",
                "dlq.consumer": consumer,
                "dlq.original_topic": "order.events",
                "dlq.original_partition": "2",
                "dlq.original_offset": str(origin_offset),
                "dlq.failed_at": "2026-11-29T19:35:40Z",
            },
            at=T0 + timedelta(seconds=offset),
        )
    )


@dataclass
class FakeMessageLog:
    """A MessageLog over lists; ``put_back`` records what it was given (or fails)."""

    keyed: list[KafkaRecord] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)
    put: list[list[DeadLetter]] = field(default_factory=list)
    kafka_down: bool = False
    reads: list[tuple[tuple[str, ...], str, datetime]] = field(default_factory=list)

    def read_keyed(self, topics: Sequence[str], key: str, *, since: datetime) -> KeyedMessages:
        self.reads.append((tuple(topics), key, since))
        return KeyedMessages([r for r in self.keyed if r.text_key == key], truncated=False)

    def dead_letter_topics(self) -> list[str]:
        return sorted({letter.record.topic for letter in self.letters} | {"order.events.dlq"})

    def dead_letters(self, topics: Sequence[str]) -> list[DeadLetter]:
        return [letter for letter in self.letters if letter.record.topic in topics]

    def put_back(self, letters: Sequence[DeadLetter]) -> None:
        if self.kafka_down:
            raise DependencyUnavailable("Kafka acknowledged 0 of 1 replayed messages")
        self.put.append(list(letters))
