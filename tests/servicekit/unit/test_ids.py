"""New ids grow with time, so rows keyed by them are appended at the right-hand end of their
indexes (servicekit/ids.py); events, orders, payments and notifications get them."""

import threading
import time
import uuid

from notification_service.domain.model import Channel, Kind, Mail, Notification
from servicekit.ids import new_id
from servicekit.messaging.envelope import Envelope


def test_ids_are_version_7_and_begin_with_the_millisecond_they_were_made() -> None:
    before = time.time_ns() // 1_000_000
    made = new_id()
    after = time.time_ns() // 1_000_000

    assert isinstance(made, uuid.UUID)
    assert made.version == 7
    assert made.variant == uuid.RFC_4122
    assert before <= made.int >> 80 <= after


def test_each_id_sorts_after_every_id_made_before_it_even_within_one_millisecond() -> None:
    made = [new_id() for _ in range(20_000)]

    assert len(set(made)) == len(made)
    assert made == sorted(made)
    # As PostgreSQL compares uuid values: bytewise, the same as their text form.
    assert [str(i) for i in made] == sorted(str(i) for i in made)


def test_threads_making_ids_at_once_never_make_the_same_one() -> None:
    made: list[list[uuid.UUID]] = [[] for _ in range(4)]

    def make(into: list[uuid.UUID]) -> None:
        into.extend(new_id() for _ in range(5_000))

    threads = [threading.Thread(target=make, args=(into,)) for into in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    every = [i for into in made for i in into]
    assert len(set(every)) == len(every) == 20_000


def test_events_and_notifications_get_time_ordered_ids() -> None:
    first = Envelope("order.created", "order", "o-1", {})
    second = Envelope("order.created", "order", "o-2", {})
    notification = Notification.new(
        event_id="e",
        user_id="u",
        kind=Kind.ORDER_PLACED,
        channel=Channel.EMAIL,
        recipient="ana@example.com",
        message=Mail("Order placed", "Thanks"),
    )

    assert first.event_id.version == second.event_id.version == 7
    assert first.event_id < second.event_id
    assert uuid.UUID(notification.notification_id).version == 7
