"""Dead letters as operators see them, and which ones a replay puts back: each original message
once however many consumers gave up on it, never a letter that was replayed already, only the
asked events (all asked ones must be waiting)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ops_service.domain.errors import NoPendingDeadLetters
from ops_service.domain.model import DeadLetter, choose_replay, in_time_order
from tests.ops_service.unit.support import T0, dead_letter, record


def test_a_dead_letter_says_what_died_where_and_why_from_its_headers() -> None:
    letter = dead_letter(3, event_id="e-1")
    assert letter.event_id == "e-1"
    assert letter.event_type == "order.created"
    assert letter.error == "ValueError('boom')"
    assert letter.error_type == "ValueError"
    assert letter.attempts == 5
    assert letter.consumer == "product-service"
    assert letter.original_topic == "order.events"
    assert letter.origin == ("order.events", 2, 7)
    assert letter.dead_at == datetime(2026, 11, 29, 19, 35, 40, tzinfo=UTC)


def test_a_replay_keeps_the_messages_own_headers_and_drops_the_dlq_ones() -> None:
    headers = dead_letter(3, event_id="e-1").replay_headers()
    assert [key for key, _ in headers] == ["event_id", "event_type", "correlation_id"]
    assert dict(headers)["correlation_id"] == b"c-1"


def test_a_letter_not_written_by_our_consumers_falls_back_on_what_it_has() -> None:
    bare = DeadLetter(record("payment.events.dlq", 1, 9, headers={}))
    assert bare.original_topic == "payment.events"
    assert bare.origin == ("payment.events.dlq", 1, 9)  # itself: nothing says otherwise
    assert bare.attempts is None
    assert bare.dead_at == T0  # the DLQ message's own time
    assert bare.event_id is None


def test_every_consumers_copy_of_one_message_is_put_back_once_and_all_are_settled() -> None:
    copies = [
        dead_letter(1, event_id="e-1", consumer="product-service"),
        dead_letter(2, event_id="e-1", consumer="payment-service"),
        dead_letter(3, event_id="e-2", origin_offset=8),
    ]
    batch = choose_replay(copies, set(), topic="order.events.dlq", event_ids=None)
    assert [m.record.offset for m in batch.messages] == [1, 3]
    assert [letter.record.offset for letter in batch.letters] == [1, 2, 3]
    assert batch.event_ids == ["e-1", "e-2"]


def test_letters_replayed_before_are_not_put_back_again() -> None:
    letters = [dead_letter(1, event_id="e-1"), dead_letter(2, event_id="e-2", origin_offset=8)]
    batch = choose_replay(
        letters, {("order.events.dlq", 2, 1)}, topic="order.events.dlq", event_ids=None
    )
    assert [m.event_id for m in batch.messages] == ["e-2"]
    everything_replayed = {letter.record.position for letter in letters}
    assert not choose_replay(
        letters, everything_replayed, topic="order.events.dlq", event_ids=None
    ).messages


def test_only_the_asked_events_and_each_must_be_waiting() -> None:
    letters = [dead_letter(1, event_id="e-1"), dead_letter(2, event_id="e-2", origin_offset=8)]
    batch = choose_replay(letters, set(), topic="order.events.dlq", event_ids=["e-2"])
    assert [m.event_id for m in batch.messages] == ["e-2"]
    with pytest.raises(NoPendingDeadLetters) as refused:
        choose_replay(
            letters, {("order.events.dlq", 2, 1)}, topic="order.events.dlq", event_ids=["e-1", "x"]
        )
    assert refused.value.event_ids == ["e-1", "x"]
    assert "order.events.dlq" in str(refused.value)


def test_several_partitions_merge_in_time_order_and_each_keeps_its_offset_order() -> None:
    first = [record("order.events", 1, 10, at=T0), record("order.events", 1, 11, at=T0)]
    # A clock step back inside one partition: offset order still wins there.
    second = [
        record("payment.events", 4, 5, at=T0.replace(second=39)),
        record("payment.events", 4, 6, at=T0.replace(second=38)),
    ]
    third = [record("stock_reservation.events", 0, 3, at=T0.replace(second=38))]
    merged = [(r.topic, r.offset) for r in in_time_order([first, second, third])]
    assert merged == [
        ("order.events", 10),
        ("order.events", 11),
        ("stock_reservation.events", 3),
        ("payment.events", 5),
        ("payment.events", 6),
    ]
