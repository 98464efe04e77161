"""One contract for the notification repositories, run against PostgreSQL (adapters/repository.py,
adapters/deliveries.py) and against the in-memory fakes (adapters/memory.py) the unit tests rely
on: if the fakes drift from the database's behaviour, this fails."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

from notification_service.adapters.memory import InMemoryNotificationUnitOfWork, NotificationStore
from notification_service.adapters.repository import SqlNotificationUnitOfWork, on_mail_queued
from notification_service.application.ports import NotificationUnitOfWork
from notification_service.domain.delivery import Delivery, RetryPolicy
from notification_service.domain.model import Channel, Contact, Kind, Mail, Notification
from servicekit.messaging.unit_of_work import Cause, transaction
from tests.support import scratch_database, sqlalchemy_url

pytestmark = pytest.mark.integration

EMAIL = Channel.EMAIL
HOUR = 3600.0


class Harness:
    def __init__(
        self,
        unit_of_work: Callable[[], AbstractContextManager[NotificationUnitOfWork]],
        row: Callable[[str], dict[str, Any]],
        watch: Callable[[Callable[[frozenset[Channel]], None]], None],
    ) -> None:
        self.unit_of_work = unit_of_work
        # status, channel, attempts, last_error, recipient, sent of one notification
        self.row = row
        self.watch = watch  # call back (with the channels) after each commit that queued some

    def add(self, *notifications: Notification) -> list[bool]:
        with self.unit_of_work() as uow:
            return [uow.notifications.add(n) for n in notifications]

    def claim(
        self, limit: int = 10, lease: float = HOUR, channel: Channel = EMAIL
    ) -> tuple[list[Delivery], float | None]:
        with self.unit_of_work() as uow:
            claim = uow.deliveries.claim(channel, limit=limit, lease=lease)
        return claim.deliveries, claim.next_due_in


@pytest.fixture(params=["postgresql", "memory"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "memory":
        store = NotificationStore()

        def stored(notification_id: str) -> dict[str, Any]:
            row = store.rows[notification_id]
            return {
                "status": row.status.value,
                "channel": row.notification.channel.value,
                "attempts": row.attempts,
                "last_error": row.last_error,
                "recipient": row.recipient,
                "sent": row.sent_at is not None,
            }

        yield Harness(
            lambda: InMemoryNotificationUnitOfWork(store, Cause("c")),
            stored,
            store.on_queued.append,
        )
        return
    request.getfixturevalue("engines")
    with scratch_database("notif", migrations="notification_service") as url:
        engine = create_engine(sqlalchemy_url(url))
        sessions = sessionmaker(engine, expire_on_commit=False)

        def row(notification_id: str) -> dict[str, Any]:
            with engine.connect() as conn:
                found = conn.execute(
                    text(
                        "SELECT status, channel, attempts, last_error, recipient,"
                        " sent_at IS NOT NULL"
                        " AS sent FROM notifications WHERE notification_id = :n"
                    ),
                    {"n": notification_id},
                )
                return dict(found.mappings().one())

        yield Harness(
            functools.partial(transaction, sessions, SqlNotificationUnitOfWork),
            row,
            functools.partial(on_mail_queued, sessions),
        )
        engine.dispose()


def notification(
    user_id: str | None = None,
    recipient: str | None = "ada@example.com",
    event_id: str = "",
    channel: Channel = EMAIL,
) -> Notification:
    return Notification.new(
        event_id=event_id or str(uuid.uuid4()),
        user_id=user_id or str(uuid.uuid4()),
        kind=Kind.WELCOME,
        channel=channel,
        recipient=recipient,
        message=Mail("Welcome", "Hello,\n"),
    )


def test_contacts_are_kept_and_updated(harness: Harness) -> None:
    user_id = str(uuid.uuid4())
    with harness.unit_of_work() as uow:
        uow.contacts.save(Contact(user_id, "old@example.com", "Ada"))
    with harness.unit_of_work() as uow:
        uow.contacts.save(Contact(user_id, "ada@example.com", "Ada Lovelace"))
    with harness.unit_of_work() as uow:
        assert uow.contacts.get(user_id) == Contact(user_id, "ada@example.com", "Ada Lovelace")
        assert uow.contacts.get(str(uuid.uuid4())) is None


def test_one_notification_per_event_and_nothing_from_a_rolled_back_work(
    harness: Harness,
) -> None:
    first = notification()
    again = notification(first.user_id, event_id=first.event_id)
    assert harness.add(first) == [True]
    assert harness.add(again) == [False]
    lost = notification()
    with pytest.raises(RuntimeError), harness.unit_of_work() as uow:
        uow.notifications.add(lost)
        raise RuntimeError("the consumer's transaction failed")
    assert harness.add(lost) == [True]  # its event id is free
    assert [d.notification_id for d in harness.claim()[0]] == [
        first.notification_id,
        lost.notification_id,
    ]


def test_commits_that_queued_mail_call_back_and_others_do_not(harness: Harness) -> None:
    calls: list[str] = []
    harness.watch(lambda channels: calls.append("queued") if channels == {EMAIL} else None)
    waiting = notification(recipient=None)
    harness.add(waiting)
    assert calls == ["queued"]
    harness.add(notification(event_id=waiting.event_id))  # a redelivery
    harness.claim()
    with pytest.raises(RuntimeError), harness.unit_of_work() as uow:
        uow.notifications.add(notification())
        raise RuntimeError("rolled back")
    assert calls == ["queued"]
    with harness.unit_of_work() as uow:
        released = uow.notifications.settle_waiting(
            Contact(waiting.user_id, "ada@example.com", "Ada")
        )
    assert released == 1
    assert calls == ["queued", "queued"]


def test_claims_take_due_mail_oldest_first_and_keep_it_from_other_claims(
    harness: Harness,
) -> None:
    first, second, third = notification(), notification(), notification()
    for each in (first, second, third):
        harness.add(each)
    claimed, next_due_in = harness.claim(limit=2)
    assert [d.notification_id for d in claimed] == [first.notification_id, second.notification_id]
    assert next_due_in is not None and next_due_in <= 0  # the third is due now
    delivery = claimed[0]
    assert (delivery.kind, delivery.channel, delivery.message) == (
        Kind.WELCOME,
        EMAIL,
        first.message,
    )
    assert (delivery.recipient, delivery.attempts) == ("ada@example.com", 0)
    assert delivery.waited >= 0
    rest, next_due_in = harness.claim()
    assert [d.notification_id for d in rest] == [third.notification_id]
    assert next_due_in is not None and HOUR - 60 < next_due_in <= HOUR  # the claims' end
    assert harness.claim()[0] == []  # every one is claimed


def test_a_claim_falls_back_to_the_contact_for_mail_recorded_before_it(
    harness: Harness,
) -> None:
    early = notification(recipient=None)
    harness.add(early)
    with harness.unit_of_work() as uow:
        uow.contacts.save(Contact(early.user_id, "late@example.com", "Ada"))
    (claimed,), _ = harness.claim()
    assert claimed.contact == Contact(early.user_id, "late@example.com", "Ada")
    delivery = claimed.settled()  # as the sender does
    assert isinstance(delivery, Delivery)
    assert delivery.recipient == "late@example.com"
    with harness.unit_of_work() as uow:
        uow.deliveries.record([delivery.sent()])
    assert harness.row(early.notification_id)["recipient"] == "late@example.com"


def test_outcomes_are_recorded_sent_retried_or_failed(harness: Harness) -> None:
    sent, retried, failed = notification(), notification(), notification()
    harness.add(sent, retried, failed)
    deliveries, _ = harness.claim()
    policy = RetryPolicy(max_attempts=1)
    with harness.unit_of_work() as uow:
        uow.deliveries.record(
            [
                deliveries[0].sent(),
                deliveries[1].failed("421 busy", RetryPolicy(retry_initial=HOUR, retry_max=HOUR)),
                deliveries[2].failed("550 no such user", policy),
            ]
        )
    assert harness.row(sent.notification_id) == {
        "status": "SENT",
        "channel": "email",
        "attempts": 1,
        "last_error": None,
        "recipient": "ada@example.com",
        "sent": True,
    }
    assert harness.row(retried.notification_id)["status"] == "PENDING"
    assert harness.row(retried.notification_id)["attempts"] == 1
    assert harness.row(retried.notification_id)["last_error"] == "421 busy"
    assert harness.row(failed.notification_id)["status"] == "FAILED"
    assert harness.row(failed.notification_id)["last_error"] == "550 no such user"
    claimed, next_due_in = harness.claim()
    assert claimed == []  # the retry waits for its backoff
    assert next_due_in is not None and HOUR - 60 < next_due_in <= HOUR


def test_a_retry_due_now_and_released_claims_are_claimed_again(harness: Harness) -> None:
    retried, released = notification(), notification()
    harness.add(retried, released)
    deliveries, _ = harness.claim()
    with harness.unit_of_work() as uow:
        uow.deliveries.record([deliveries[0].failed("421", RetryPolicy(retry_initial=0.0))])
        uow.deliveries.release(deliveries[1:])
    again, _ = harness.claim()
    assert sorted(d.notification_id for d in again) == sorted(
        [retried.notification_id, released.notification_id]
    )
    assert {d.notification_id: d.attempts for d in again}[retried.notification_id] == 1


def test_an_outcome_of_a_claim_that_ran_out_is_dropped_unless_it_was_sent(
    harness: Harness,
) -> None:
    lost, sent_late = notification(), notification()
    harness.add(lost, sent_late)
    stale, _ = harness.claim(lease=0)  # the claims run out at once
    fresh, _ = harness.claim()  # and another sender takes them
    assert {d.notification_id for d in fresh} == {d.notification_id for d in stale}
    with harness.unit_of_work() as uow:
        uow.deliveries.record([stale[0].failed("timeout", RetryPolicy(max_attempts=1))])
        uow.deliveries.release(stale)
    assert harness.row(lost.notification_id)["status"] == "PENDING"
    assert harness.claim()[0] == []  # still the second sender's
    with harness.unit_of_work() as uow:
        uow.deliveries.record([stale[1].sent()])  # the mail did go: that is kept
    assert harness.row(sent_late.notification_id)["status"] == "SENT"
    with harness.unit_of_work() as uow:
        uow.deliveries.record([d.failed("x", RetryPolicy(max_attempts=1)) for d in fresh])
    assert harness.row(lost.notification_id)["status"] == "FAILED"
    assert harness.row(sent_late.notification_id)["status"] == "SENT"  # never undone


def test_a_contact_arriving_during_a_claim_beats_its_waiting_outcome(harness: Harness) -> None:
    waiting, other = notification(recipient=None), notification(recipient=None)
    harness.add(waiting, other)
    claimed, _ = harness.claim()
    assert [d.recipient for d in claimed] == [None, None]
    with harness.unit_of_work() as uow:
        contact = Contact(waiting.user_id, "ada@example.com", "Ada")
        assert uow.notifications.settle_waiting(contact) == 1
    with harness.unit_of_work() as uow:
        uow.deliveries.record([d.unaddressed(RetryPolicy(contact_retry=HOUR)) for d in claimed])
    assert harness.row(other.notification_id)["last_error"] is not None
    (due,), _ = harness.claim()
    assert (due.notification_id, due.recipient) == (waiting.notification_id, "ada@example.com")
    assert harness.row(waiting.notification_id)["attempts"] == 0
