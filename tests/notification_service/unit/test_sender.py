"""The sender on the in-memory fakes, with a clock the tests move on: every notification sent
once, failures retried with backoff until they succeed or run out, a channel that is down
stopping the pass, mail waiting for a contact released when it comes, and claims that keep
senders apart. Milliseconds, no database, no SMTP server."""

from __future__ import annotations

import threading

import pytest

from notification_service.adapters.memory import InMemoryNotificationUnitOfWork
from notification_service.application.ports import ChannelUnavailable, MessageRefused
from notification_service.application.sender import NotificationSender, SenderPolicy
from notification_service.domain.delivery import WAITING_FOR_CONTACT, RetryPolicy
from notification_service.domain.model import Status
from tests.notification_service.support import (
    Platform,
    Transport,
    cancelled,
    confirmed,
    new_user,
    registered,
)
from tests.support import wait_for

RETRY = RetryPolicy(max_attempts=4, retry_initial=2.0, retry_max=60.0, contact_retry=5.0)


def sender_for(platform: Platform, transport: Transport, **policy: float) -> NotificationSender:
    return NotificationSender(
        platform.unit_of_work,
        lambda: transport,
        SenderPolicy(retry=RETRY, **policy),
        clock=platform.clock.monotonic,
    )


def registered_users(platform: Platform, count: int) -> list[tuple[str, str]]:
    users = [new_user() for _ in range(count)]
    for user_id, email in users:
        platform.deliver(registered(user_id, email))
    return users


def test_every_due_notification_is_sent_once_with_its_id_as_message_id() -> None:
    platform, transport = Platform(), Transport()
    users = registered_users(platform, 3)
    sender = sender_for(platform, transport)
    assert sender.send_due() == 3
    assert sorted(to for to, _, _ in transport.sent) == sorted(email for _, email in users)
    rows = {r.notification.notification_id: r for r in platform.store.rows.values()}
    assert {message_id for _, _, message_id in transport.sent} == set(rows)
    assert all(
        (r.status, r.attempts, r.last_error) == (Status.SENT, 1, None) and r.sent_at
        for r in rows.values()
    )
    assert sender.send_due() == 0
    assert len(transport.sent) == 3


def test_an_event_delivered_again_after_its_mail_went_sends_nothing_more() -> None:
    platform, transport = Platform(), Transport()
    user_id, email = new_user()
    event = confirmed(user_id)
    platform.deliver(registered(user_id, email))
    event_id = platform.deliver(event)
    sender = sender_for(platform, transport)
    assert sender.send_due() == 2
    platform.deliver(event, event_id)
    assert sender.send_due() == 0
    assert len(transport.sent) == 2


@pytest.mark.parametrize("failure", [ChannelUnavailable, MessageRefused])
def test_a_transport_failing_twice_is_retried_with_backoff_then_sends_once(
    failure: type[ChannelUnavailable | MessageRefused],
) -> None:
    platform = Platform()
    transport = Transport(failure("ConnectionRefusedError: down"), failure("again"))
    [(user_id, _)] = registered_users(platform, 1)
    sender = sender_for(platform, transport)

    assert sender.send_due() == 1
    (row,) = platform.rows(user_id)
    assert (row.status, row.attempts, row.last_error) == (
        Status.PENDING,
        1,
        "ConnectionRefusedError: down",
    )
    platform.clock.advance(1.9)
    assert sender.send_due() == 0  # not before its backoff (2 s)
    platform.clock.advance(0.2)
    assert sender.send_due() == 1
    platform.clock.advance(3.9)
    assert sender.send_due() == 0  # the backoff doubled (4 s)
    platform.clock.advance(0.2)
    assert sender.send_due() == 1
    (row,) = platform.rows(user_id)
    assert (row.status, row.attempts, row.last_error) == (Status.SENT, 3, None)
    assert transport.attempts == 3 and len(transport.sent) == 1


def test_a_notification_is_failed_after_its_last_attempt() -> None:
    platform = Platform()
    transport = Transport(*(MessageRefused(f"550 no {n}") for n in range(RETRY.max_attempts)))
    [(user_id, _)] = registered_users(platform, 1)
    sender = sender_for(platform, transport)
    for _ in range(RETRY.max_attempts):
        assert sender.send_due() == 1
        platform.clock.advance(RETRY.retry_max)
    (row,) = platform.rows(user_id)
    assert (row.status, row.attempts, row.last_error) == (Status.FAILED, 4, "550 no 3")
    assert sender.send_due() == 0
    assert transport.sent == []


def test_a_channel_that_is_down_ends_the_pass_and_the_rest_stays_due() -> None:
    platform = Platform()
    transport = Transport(ChannelUnavailable("ConnectionRefusedError"))
    registered_users(platform, 3)
    sender = sender_for(platform, transport)
    assert sender.send_due() == 1  # the first attempt found the server down
    assert transport.attempts == 1
    rows = sorted(platform.store.rows.values(), key=lambda r: r.attempts)
    assert [(r.status, r.attempts) for r in rows] == [
        (Status.PENDING, 0),
        (Status.PENDING, 0),
        (Status.PENDING, 1),
    ]
    assert sender.send_due() == 2  # given back at once, not after their claim
    assert len(transport.sent) == 2


def test_a_refused_message_does_not_hold_up_the_others() -> None:
    platform = Platform()
    transport = Transport(MessageRefused("550 mailbox unavailable"))
    registered_users(platform, 3)
    assert sender_for(platform, transport).send_due() == 3
    assert len(transport.sent) == 2
    statuses = sorted((r.status, r.attempts) for r in platform.store.rows.values())
    assert statuses == [(Status.PENDING, 1), (Status.SENT, 1), (Status.SENT, 1)]


def test_mail_for_an_unknown_customer_waits_for_the_contact_then_goes() -> None:
    platform, transport = Platform(), Transport()
    user_id, email = new_user()
    platform.deliver(cancelled(user_id))
    sender = sender_for(platform, transport)

    assert sender.send_due() == 1
    (row,) = platform.rows(user_id)
    assert (row.status, row.recipient, row.attempts, row.last_error) == (
        Status.PENDING,
        None,
        0,
        WAITING_FOR_CONTACT,
    )
    assert transport.attempts == 0
    assert sender.send_due() == 0  # it looks again after contact_retry, not before

    platform.deliver(registered(user_id, email))
    assert sender.send_due() == 2
    assert sorted(message.subject for _, message, _ in transport.sent)[0].startswith("Welcome")
    assert {to for to, _, _ in transport.sent} == {email}
    assert [r.status for r in platform.rows(user_id)] == [Status.SENT, Status.SENT]


def test_a_contact_that_never_comes_fails_the_mail_without_an_attempt() -> None:
    platform, transport = Platform(), Transport()
    user_id, _ = new_user()
    platform.deliver(cancelled(user_id))
    sender = sender_for(platform, transport)
    platform.clock.advance(RETRY.contact_wait + 1)
    assert sender.send_due() == 1
    (row,) = platform.rows(user_id)
    assert (row.status, row.attempts) == (Status.FAILED, 0)
    assert "account.registered" in (row.last_error or "")


def test_a_second_sender_never_takes_what_the_first_is_sending() -> None:
    platform = Platform()
    users = registered_users(platform, 5)
    first_transport, second_transport = Transport(), Transport()
    first = sender_for(platform, first_transport, batch_size=3)
    second = sender_for(platform, second_transport, batch_size=3)
    during: list[int] = []

    def second_sender_runs() -> None:
        if not during:  # while the first is on its first send, with no transaction open
            during.append(second.send_due())

    first_transport.on_send = second_sender_runs
    assert first.send_due() == 3
    assert during == [2]  # the two the first had not claimed
    sent = first_transport.sent + second_transport.sent
    assert sorted(to for to, _, _ in sent) == sorted(email for _, email in users)
    assert first.send_due() + second.send_due() == 0


def test_no_send_starts_in_the_second_half_of_the_claim() -> None:
    platform, transport = Platform(), Transport()
    transport.on_send = lambda: platform.clock.advance(30)  # a slow server
    registered_users(platform, 4)
    sender = sender_for(platform, transport, claim_seconds=100)
    assert sender.send_due() == 2  # started at 0 s and 30 s; at 60 s the claim is half gone
    assert sender.send_due() == 2  # the two left were given back, due at once
    assert len(transport.sent) == 4


def test_what_was_done_before_an_unexpected_error_is_kept() -> None:
    platform, transport = Platform(), Transport()
    registered_users(platform, 3)

    def explode_on_the_second() -> None:
        if transport.attempts == 2:
            raise RuntimeError("a bug in the transport")

    transport.on_send = explode_on_the_second
    sender = sender_for(platform, transport)
    with pytest.raises(RuntimeError):
        sender.send_due()
    assert sorted(r.status for r in platform.store.rows.values()) == [
        Status.PENDING,
        Status.PENDING,
        Status.SENT,
    ]
    transport.on_send = lambda: None
    assert sender.send_due() == 2  # the other two were given back, not left claimed
    assert len(transport.sent) == 3


def test_outcomes_the_database_would_not_take_are_recorded_by_the_next_pass_not_resent() -> None:
    platform, transport = Platform(), Transport()
    registered_users(platform, 2)
    database_away = [False]

    def unit_of_work() -> InMemoryNotificationUnitOfWork:
        if database_away[0]:
            raise ConnectionError("the database system is shutting down")
        return platform.unit_of_work()

    def away_after_the_second_send() -> None:
        if transport.attempts == 2:
            database_away[0] = True

    transport.on_send = away_after_the_second_send
    sender = NotificationSender(
        unit_of_work,
        lambda: transport,
        SenderPolicy(retry=RETRY, claim_seconds=120),
        clock=platform.clock.monotonic,
    )
    with pytest.raises(ConnectionError):
        sender.send_due()  # both sent, their outcomes not recorded
    with pytest.raises(ConnectionError):
        sender.send_due()  # still away: nothing claimed, nothing sent again
    assert len(transport.sent) == 2
    database_away[0] = False
    assert sender.send_due() == 0  # the kept outcomes recorded first; nothing else due
    assert sorted(r.status for r in platform.store.rows.values()) == [Status.SENT, Status.SENT]
    platform.clock.advance(600)  # long past the claim: nothing goes twice
    assert sender.send_due() == 0
    assert len(transport.sent) == 2


def test_the_loop_wakes_on_queued_mail_retries_when_due_and_stops() -> None:
    platform = Platform()
    transport = Transport(MessageRefused("550 once"))
    sender = NotificationSender(
        platform.unit_of_work,
        lambda: transport,
        SenderPolicy(
            poll_interval=60, idle_poll=60, batch_window=0, retry=RetryPolicy(retry_initial=0.05)
        ),
        clock=platform.clock.monotonic,
    )
    platform.store.on_queued.append(lambda _channels: sender.wake())
    stop = threading.Event()
    loop = threading.Thread(target=sender.run, args=(stop,))
    loop.start()
    try:
        [(_, email)] = registered_users(platform, 1)
        wait_for(lambda: transport.attempts == 1, timeout=5, what="the woken sender to try")
        platform.clock.advance(0.05)  # the retry falls due: the loop comes back for it
        wait_for(lambda: transport.sent, timeout=10, what="the retry after its backoff")
    finally:
        stop.set()
        loop.join(timeout=5)
    assert not loop.is_alive(), "the sender must stop without waiting for its poll"
    assert [to for to, _, _ in transport.sent] == [email]
    assert transport.closed >= 1
