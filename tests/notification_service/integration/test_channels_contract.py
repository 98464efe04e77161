"""The repository contract for channels, run against PostgreSQL and the in-memory fakes alike:
which contact wins when auth's account events and user_service's profiles arrive in any order,
one notification per (event, channel), notifications in the app recorded as delivered, and
notifications recorded before their customer was known settled as the contact says."""

from __future__ import annotations

import uuid

import pytest

from notification_service.domain.delivery import NOT_TAKEN, Delivery, Outcome
from notification_service.domain.model import Channel, Contact, Status
from tests.notification_service.integration.test_repository_contract import (
    Harness,
    notification,
)

pytestmark = pytest.mark.integration

EMAIL, SMS, IN_APP = Channel.EMAIL, Channel.SMS, Channel.IN_APP
PHONE = "+5511987654321"


def test_a_profile_outranks_the_account_events_that_arrive_after_it(harness: Harness) -> None:
    user_id = str(uuid.uuid4())
    profile = Contact(user_id, "ada@example.com", "Ada L", PHONE, (EMAIL, SMS))
    with harness.unit_of_work() as uow:
        uow.contacts.learn(Contact(user_id, "ada@example.com", "Ada"))
        assert uow.contacts.get(user_id) == Contact(user_id, "ada@example.com", "Ada")
        uow.contacts.save(profile)
    with harness.unit_of_work() as uow:
        uow.contacts.learn(Contact(user_id, "old@example.com", "Old name"))  # late, from auth
        assert uow.contacts.get(user_id) == profile


def test_a_converted_guest_keeps_its_profile_and_gets_an_email(harness: Harness) -> None:
    user_id, unknown = str(uuid.uuid4()), str(uuid.uuid4())
    with harness.unit_of_work() as uow:
        uow.contacts.learn(Contact(user_id, None, "Guest", guest=True))
        assert uow.contacts.get(user_id) == Contact(user_id, None, "Guest", guest=True)
        uow.contacts.save(Contact(user_id, None, "Guest", PHONE, (EMAIL, SMS), guest=True))
    with harness.unit_of_work() as uow:
        uow.contacts.convert(Contact(user_id, "ada@example.com", "Ada"))
        uow.contacts.convert(Contact(unknown, "bob@example.com", "Bob"))
    with harness.unit_of_work() as uow:
        assert uow.contacts.get(user_id) == Contact(
            user_id, "ada@example.com", "Ada", PHONE, (EMAIL, SMS), guest=False
        )
        assert uow.contacts.get(unknown) == Contact(unknown, "bob@example.com", "Bob")


def test_one_notification_per_event_and_channel(harness: Harness) -> None:
    email = notification()
    sms = notification(email.user_id, PHONE, email.event_id, SMS)
    assert harness.add(email, sms) == [True, True]
    assert harness.add(notification(email.user_id, event_id=email.event_id)) == [False]
    assert harness.add(notification(email.user_id, PHONE, email.event_id, SMS)) == [False]
    (claimed_sms,), _ = harness.claim(channel=SMS)
    assert (claimed_sms.notification_id, claimed_sms.recipient) == (sms.notification_id, PHONE)
    (claimed_email,), _ = harness.claim()
    assert claimed_email.notification_id == email.notification_id


def test_in_the_app_is_delivered_by_being_recorded(harness: Harness) -> None:
    calls: list[frozenset[Channel]] = []
    harness.watch(calls.append)
    in_app = notification(recipient=None, channel=IN_APP)
    assert harness.add(in_app) == [True]
    row = harness.row(in_app.notification_id)
    assert (row["status"], row["channel"], row["sent"]) == ("SENT", "in_app", True)
    assert calls == []  # no sender to wake
    assert harness.claim(channel=IN_APP)[0] == []


@pytest.mark.parametrize(
    ("contact", "expected"),
    [
        (
            Contact("", "ada@example.com", "Ada", PHONE, (EMAIL, SMS)),
            {EMAIL: ("PENDING", "email", "ada@example.com"), SMS: ("PENDING", "sms", PHONE)},
        ),
        (
            Contact("", "ada@example.com", "Ada", PHONE, (EMAIL,)),
            {EMAIL: ("PENDING", "email", "ada@example.com"), SMS: ("SKIPPED", "sms", None)},
        ),
        (
            Contact("", None, "Guest", guest=True),
            {EMAIL: ("SENT", "in_app", None), SMS: ("SKIPPED", "sms", None)},
        ),
    ],
    ids=["email-and-sms", "email-only", "guest"],
)
def test_waiting_notifications_are_settled_as_the_contact_says(
    harness: Harness, contact: Contact, expected: dict[Channel, tuple[str, str, str | None]]
) -> None:
    calls: list[frozenset[Channel]] = []
    harness.watch(calls.append)
    email = notification(recipient=None)
    sms = notification(email.user_id, None, email.event_id, SMS)
    other = notification(recipient=None)  # another customer's: left alone
    harness.add(email, sms, other)
    calls.clear()
    contact = Contact(email.user_id, *_fields(contact))
    with harness.unit_of_work() as uow:
        assert uow.notifications.settle_waiting(contact) == 2
    for channel, made in ((EMAIL, email), (SMS, sms)):
        row = harness.row(made.notification_id)
        assert (row["status"], row["channel"], row["recipient"]) == expected[channel]
        assert row["last_error"] == (NOT_TAKEN if row["status"] == "SKIPPED" else None)
    pending = {Channel(v[1]) for v in expected.values() if v[0] == "PENDING"}
    assert calls == ([frozenset(pending)] if pending else [])
    assert harness.row(other.notification_id)["recipient"] is None


def test_a_sender_settles_what_a_guest_contact_saved_meanwhile_leaves(harness: Harness) -> None:
    email = notification(recipient=None)
    sms = notification(email.user_id, None, email.event_id, SMS)
    harness.add(email, sms)
    with harness.unit_of_work() as uow:  # committed too late for the handler to settle them
        uow.contacts.learn(Contact(email.user_id, None, "Guest", guest=True))
    outcomes: list[Outcome] = []
    for channel in (EMAIL, SMS):
        (claimed,), _ = harness.claim(channel=channel)
        settled = claimed.settled()
        assert not isinstance(settled, Delivery)
        outcomes.append(settled)
    with harness.unit_of_work() as uow:
        uow.deliveries.record(outcomes)
    assert [o.status for o in outcomes] == [Status.SENT, Status.SKIPPED]
    email_row, sms_row = harness.row(email.notification_id), harness.row(sms.notification_id)
    assert (email_row["status"], email_row["channel"], email_row["sent"]) == (
        "SENT",
        "in_app",
        True,
    )
    assert (sms_row["status"], sms_row["channel"], sms_row["sent"]) == ("SKIPPED", "sms", False)


def _fields(contact: Contact) -> tuple[object, ...]:
    return (
        contact.email,
        contact.full_name,
        contact.phone,
        contact.notification_channels,
        contact.guest,
    )
