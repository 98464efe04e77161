"""The notification rules, pure: which notification each event makes and to whom, and how a
delivery's outcome follows from the retry policy."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from notification_service.domain import rules
from notification_service.domain.delivery import (
    MAX_ERROR_LENGTH,
    WAITING_FOR_CONTACT,
    Delivery,
    RetryPolicy,
)
from notification_service.domain.model import Channel, Contact, Kind, Mail, Status
from tests.notification_service.support import cancelled, confirmed, registered, rejected

USER = str(uuid.uuid4())
ADA = Contact(USER, "ada@example.com", "Ada Lovelace")


def test_a_registration_welcomes_its_owner_at_the_registered_address() -> None:
    event = registered(USER, "ada@example.com", "Ada\r\nBcc: x@example.com")
    (welcome,) = rules.welcome(rules.contact_of(event), event_id="e1")
    assert (welcome.kind, welcome.channel, welcome.recipient) == (
        Kind.WELCOME,
        Channel.EMAIL,
        "ada@example.com",
    )
    assert (welcome.event_id, welcome.user_id) == ("e1", USER)
    assert welcome.message.subject == "Welcome to Order Platform"
    assert welcome.message.body.startswith("Hello Ada Bcc: x@example.com,\n\n")
    assert rules.contact_of(event) == Contact(USER, "ada@example.com", event.full_name)


def test_each_order_event_makes_its_own_kind_of_mail_for_the_known_contact() -> None:
    made = {
        "confirmed": rules.order_confirmed(confirmed(USER), ADA, event_id="e1"),
        "cancelled": rules.order_cancelled(cancelled(USER), ADA, event_id="e2"),
        "rejected": rules.order_rejected(rejected(USER), ADA, event_id="e3"),
    }
    assert {name: [n.kind for n in made[name]] for name in made} == {
        "confirmed": [Kind.ORDER_CONFIRMED],
        "cancelled": [Kind.ORDER_CANCELLED],
        "rejected": [Kind.ORDER_REJECTED],
    }
    for notifications in made.values():
        (notification,) = notifications
        assert notification.recipient == "ada@example.com"
        assert notification.message.body.startswith("Hello Ada Lovelace,")
    assert "Total:  20.00 EUR" in made["confirmed"][0].message.body
    assert "Reason: payment declined" in made["cancelled"][0].message.body
    assert "REJECTED" in made["rejected"][0].message.body


def test_an_order_mail_for_an_unknown_customer_has_no_recipient_and_no_name() -> None:
    # One per messaging channel, each waiting for the contact to settle it.
    notification, sms = rules.order_cancelled(cancelled(USER), None, event_id="e1")
    assert notification.recipient is None and sms.recipient is None
    assert (notification.channel, sms.channel) == (Channel.EMAIL, Channel.SMS)
    assert notification.message.body.startswith("Hello,\n")


def test_every_notification_gets_its_own_id() -> None:
    first, second = (rules.order_rejected(rejected(USER), ADA, event_id="e") for _ in range(2))
    assert first[0].notification_id != second[0].notification_id


def delivery(attempts: int = 0, recipient: str | None = "ada@example.com", waited: float = 0):
    return Delivery(
        notification_id=str(uuid.uuid4()),
        kind=Kind.WELCOME,
        channel=Channel.EMAIL,
        message=Mail("s", "b"),
        recipient=recipient,
        attempts=attempts,
        waited=waited,
        claimed_until=datetime.now(UTC),
    )


def test_the_backoff_doubles_from_the_first_delay_up_to_the_cap() -> None:
    policy = RetryPolicy(retry_initial=2.0, retry_max=10.0)
    assert [policy.delay(n) for n in range(1, 6)] == [2.0, 4.0, 8.0, 10.0, 10.0]


def test_a_sent_notification_counts_its_attempt_and_keeps_its_recipient() -> None:
    outcome = delivery(attempts=2).sent()
    assert (outcome.status, outcome.attempts, outcome.error, outcome.retry_in) == (
        Status.SENT,
        3,
        None,
        None,
    )
    assert outcome.recipient == "ada@example.com"


@pytest.mark.parametrize(
    ("attempts_before", "status", "retry_in"),
    [(0, Status.PENDING, 2.0), (1, Status.PENDING, 4.0), (2, Status.FAILED, None)],
)
def test_a_failed_attempt_is_retried_with_backoff_until_the_last_one(
    attempts_before: int, status: Status, retry_in: float | None
) -> None:
    policy = RetryPolicy(max_attempts=3, retry_initial=2.0)
    outcome = delivery(attempts=attempts_before).failed("x" * 5000, policy)
    assert (outcome.status, outcome.attempts, outcome.retry_in) == (
        status,
        attempts_before + 1,
        retry_in,
    )
    assert outcome.attempted and outcome.recipient is None
    assert outcome.error == "x" * MAX_ERROR_LENGTH


def test_no_recipient_waits_without_using_an_attempt_then_gives_up() -> None:
    policy = RetryPolicy(contact_retry=5.0, contact_wait=60.0)
    waiting = delivery(attempts=1, recipient=None, waited=59).unaddressed(policy)
    assert (waiting.status, waiting.attempts, waiting.retry_in, waiting.error) == (
        Status.PENDING,
        1,
        5.0,
        WAITING_FOR_CONTACT,
    )
    assert not waiting.attempted
    overdue = delivery(attempts=1, recipient=None, waited=61).unaddressed(policy)
    assert (overdue.status, overdue.attempts, overdue.retry_in) == (Status.FAILED, 1, None)
    assert "account.registered" in (overdue.error or "")
