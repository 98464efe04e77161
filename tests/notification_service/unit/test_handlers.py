"""The consumed events on the in-memory fakes: one notification per event however often it is
delivered, contacts kept, and order mail that arrived first waiting for its contact."""

from __future__ import annotations

import pytest

from notification_service.application import handlers
from notification_service.domain.model import Channel, Contact, Kind, Status
from servicekit.messaging.unit_of_work import Cause
from tests.notification_service.support import (
    Platform,
    cancelled,
    confirmed,
    new_user,
    registered,
    rejected,
)


def test_one_notification_per_event_however_often_it_is_delivered() -> None:
    platform = Platform()
    user_id, email = new_user()
    events = [registered(user_id, email), confirmed(user_id), cancelled(user_id), rejected(user_id)]
    for event in events:
        event_id = platform.deliver(event)
        platform.deliver(event, event_id)  # redelivered: same event id
    rows = platform.rows(user_id)
    assert [r.notification.kind for r in rows] == [
        Kind.WELCOME,
        Kind.ORDER_CONFIRMED,
        Kind.ORDER_CANCELLED,
        Kind.ORDER_REJECTED,
    ]
    assert len({r.notification.event_id for r in rows}) == 4
    assert all((r.status, r.recipient, r.attempts) == (Status.PENDING, email, 0) for r in rows)


def test_a_registration_keeps_the_latest_contact() -> None:
    platform = Platform()
    user_id, email = new_user()
    platform.deliver(registered(user_id, "old@example.com", "Ada"))
    platform.deliver(registered(user_id, email, "Ada Lovelace"))
    assert platform.store.contacts[user_id] == Contact(user_id, email, "Ada Lovelace")


def test_order_mail_before_the_registration_waits_then_is_addressed_and_due() -> None:
    platform = Platform()
    user_id, email = new_user()
    platform.deliver(cancelled(user_id))
    (waiting,) = platform.rows(user_id)
    assert waiting.recipient is None
    assert waiting.notification.message.body.startswith("Hello,\n")
    platform.clock.advance(30)
    platform.deliver(registered(user_id, email))
    order_mail = platform.store.rows[waiting.notification.notification_id]
    assert order_mail.recipient == email
    assert order_mail.next_attempt_at == platform.clock.now  # due from the registration on


def test_mail_that_other_customers_wait_for_is_left_alone() -> None:
    platform = Platform()
    (user_id, email), (other_id, _) = new_user(), new_user()
    platform.deliver(rejected(other_id))
    platform.deliver(registered(user_id, email))
    (other,) = platform.rows(other_id)
    assert other.recipient is None


def test_queued_mail_wakes_the_sender_after_the_commit_and_a_redelivery_does_not() -> None:
    platform = Platform()
    woken: list[tuple[frozenset[Channel], int]] = []
    platform.store.on_queued.append(
        lambda channels: woken.append((channels, len(platform.store.rows)))
    )
    user_id, _ = new_user()
    event = confirmed(user_id)
    event_id = platform.deliver(event)
    # Called once the notifications (one per channel: the customer is unknown) were in the store.
    assert woken == [(frozenset({Channel.EMAIL, Channel.SMS}), 2)]
    platform.deliver(event, event_id)
    assert woken == [(frozenset({Channel.EMAIL, Channel.SMS}), 2)]


def test_a_failed_work_records_nothing() -> None:
    platform = Platform()
    user_id, email = new_user()
    with (
        pytest.raises(RuntimeError),
        platform.unit_of_work(Cause("corr", "e1", "account.registered")) as uow,
    ):
        handlers.on_account_registered(registered(user_id, email), uow)
        raise RuntimeError("the transaction failed")
    assert platform.store.rows == {} and platform.store.contacts == {}


def test_a_notification_needs_the_consumed_event_it_answers() -> None:
    platform = Platform()
    user_id, _ = new_user()
    with pytest.raises(ValueError, match="consumed event"), platform.unit_of_work() as uow:
        handlers.on_order_rejected(rejected(user_id), uow)
    assert platform.store.rows == {}


def test_handlers_take_no_aggregate_lock_and_publish_nothing() -> None:
    platform = Platform()
    user_id, email = new_user()
    uow = platform.unit_of_work(Cause("corr", "e1", "account.registered"))
    with uow:
        handlers.on_account_registered(registered(user_id, email), uow)
    assert uow.locks == [] and uow.published == []
