"""Deferrable events wait for company: the inbox consumer holds messages that no saga waits on
(for up to defer_seconds) and hands them over with the next message, so that one transaction
applies both; everything behind a held message waits behind it, so offsets stay in order."""

from __future__ import annotations

from typing import Any

from confluent_kafka import TopicPartition

from servicekit.messaging.inbox import InboxConsumer, no_locks
from servicekit.settings import KafkaSettings

TOPIC = "stock_reservation.events"


class FakeMessage:
    """What the consumer reads of a message: its headers, place and error."""

    def __init__(self, event_type: str | None, partition: int = 0, offset: int = 0) -> None:
        self.event_type = event_type
        self._partition = partition
        self._offset = offset

    def headers(self) -> list[tuple[str, bytes]]:
        return [("event_type", self.event_type.encode())] if self.event_type else []

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset


def message(event_type: str | None, partition: int = 0, offset: int = 0) -> Any:
    return FakeMessage(event_type, partition, offset)


NO_SESSIONS: Any = None  # nothing is applied here


def _apply(session: Any, envelope: Any) -> None:
    del session, envelope


def inbox(*, batch_locks: Any = no_locks, defer_seconds: float = 60.0) -> InboxConsumer:
    return InboxConsumer(
        name="test-service",
        topics=[TOPIC],
        handlers={"stock.reserved": _apply, "stock.committed": _apply},
        session_factory=NO_SESSIONS,
        kafka=KafkaSettings(),
        batch_locks=batch_locks,
        deferrable=["stock.committed"],
        defer_seconds=defer_seconds,
    )


def test_a_deferrable_event_waits_and_goes_with_the_next_one_in_order() -> None:
    consumer = inbox()
    later = message("stock.committed", offset=1)
    assert consumer._hold([later]) == []
    # More deferrable ones, and messages this consumer ignores, wait behind it.
    ignored = message("stock.other", offset=2)
    also_later = message("stock.committed", offset=3)
    assert consumer._hold([ignored, also_later]) == []
    urgent = message("stock.reserved", offset=4)
    assert consumer._hold([urgent]) == [later, ignored, also_later, urgent]
    assert consumer._hold([]) == []


def test_held_events_go_alone_once_their_window_is_over() -> None:
    consumer = inbox(defer_seconds=0.0)
    later = message("stock.committed")
    assert consumer._hold([later]) == [later]
    consumer = inbox()
    assert consumer._hold([later]) == []
    consumer._held_until = 0.0  # the window is over
    assert consumer._poll_wait() == 0.0  # the next poll does not wait for more
    assert consumer._hold([]) == [later]


def test_what_cannot_wait_is_never_held() -> None:
    consumer = inbox()
    urgent, later = message("stock.reserved"), message("stock.committed")
    assert consumer._hold([urgent, later]) == [urgent, later]
    # Only ignored messages: nothing to share a transaction with, acknowledged at once.
    ignored = message("stock.other")
    assert consumer._hold([ignored]) == [ignored]
    # A message without the relay's header must be parsed to know what it is.
    unknown = message(None)
    assert consumer._hold([later, unknown]) == [later, unknown]


def test_without_batch_locks_nothing_is_deferred() -> None:
    # Held events could only share a transaction through the batch path.
    consumer = inbox(batch_locks=None)
    later = message("stock.committed")
    assert consumer._hold([later]) == [later]


def test_held_messages_of_revoked_partitions_are_left_to_their_next_owner() -> None:
    consumer = inbox()
    kept, lost = message("stock.committed", partition=0), message("stock.committed", 1)
    assert consumer._hold([kept, lost]) == []
    consumer._on_revoke(None, [TopicPartition(TOPIC, 1)])
    consumer._held_until = 0.0
    assert consumer._hold([]) == [kept]
