"""Channels on the in-memory fakes: one notification per (event, channel) as the customer's
profile chose, whatever order the contact and order events arrive in; guests in the app only;
a converted guest notifiable again; the new kinds and their SMS texts; an SMS provider that is
down retried with the same idempotency key while the email goes."""

from __future__ import annotations

import uuid
from collections import Counter

from notification_service.application.ports import ChannelUnavailable
from notification_service.application.sender import NotificationSender, SenderPolicy
from notification_service.domain import rules
from notification_service.domain.delivery import NOT_TAKEN, RetryPolicy
from notification_service.domain.model import Channel, Contact, Kind, Status
from tests.notification_service.support import (
    PHONE,
    Platform,
    Transport,
    confirmed,
    converted,
    created,
    delivered,
    guest,
    new_user,
    profile,
    registered,
    shipped,
)

EMAIL, SMS, IN_APP = Channel.EMAIL, Channel.SMS, Channel.IN_APP


def made(platform: Platform, user_id: str) -> Counter[tuple[Kind, Channel, Status]]:
    return Counter(
        (r.notification.kind, r.notification.channel, r.status)
        for r in platform.rows(user_id, channel=None)
    )


def test_every_kind_goes_once_on_each_chosen_channel_however_often_delivered() -> None:
    platform = Platform()
    user_id, email = new_user()
    platform.deliver(registered(user_id, email))
    platform.deliver(profile(user_id, email, ["email", "sms"]))
    order_id = str(uuid.uuid4())
    for event in (
        created(user_id, order_id),
        confirmed(user_id, order_id),
        shipped(user_id, order_id),
        delivered(user_id, order_id),
    ):
        event_id = platform.deliver(event)
        platform.deliver(event, event_id)  # redelivered
    kinds = (Kind.ORDER_PLACED, Kind.ORDER_CONFIRMED, Kind.ORDER_SHIPPED, Kind.ORDER_DELIVERED)
    assert made(platform, user_id) == Counter(
        {(Kind.WELCOME, EMAIL, Status.PENDING): 1}
        | {(kind, channel, Status.PENDING): 1 for kind in kinds for channel in (EMAIL, SMS)}
    )
    addresses = {r.notification.channel: r.recipient for r in platform.rows(user_id, SMS)}
    assert addresses == {SMS: PHONE}


def test_sms_texts_are_one_line_without_the_name() -> None:
    ada = Contact("u", "ada@example.com", "Ada Lovelace", PHONE, (EMAIL, SMS))
    order_id = str(uuid.uuid4())
    email, sms = rules.order_confirmed(confirmed("u", order_id), ada, event_id="e")
    assert (email.channel, sms.channel) == (EMAIL, SMS)
    assert sms.message.subject == email.message.subject
    assert sms.message.body == (
        f"Order Platform: your order {order_id} is confirmed. Total 20.00 EUR."
    )
    placed = rules.order_placed(created("u", order_id), ada, event_id="e")
    assert [n.message.body for n in placed][1] == (
        f"Order Platform: we received your order {order_id}."
    )
    assert "3 item(s)" in placed[0].message.body
    for kind_rule, words in (
        (rules.order_shipped, "is on its way"),
        (rules.order_delivered, "was delivered"),
    ):
        event = (shipped if kind_rule is rules.order_shipped else delivered)("u", order_id)
        mail, text = kind_rule(event, ada, event_id="e")
        assert words in mail.message.subject and words in text.message.body
        assert "Ada" not in text.message.body and "\n" not in text.message.body


def test_a_profile_keeps_only_channels_it_knows_and_can_reach() -> None:
    contact = rules.profile_contact(profile("u", "a@example.com", ["sms", "push", "sms"]))
    assert contact.notification_channels == (SMS,)
    assert contact.channels == (SMS,)
    assert Contact("u", "a@example.com", "A", None, (SMS,)).channels == (IN_APP,)  # no phone
    assert Contact("u", "a@example.com", "A", PHONE, ()).channels == (IN_APP,)  # none chosen
    assert Contact("u", None, "Guest", PHONE, (EMAIL, SMS), guest=True).channels == (IN_APP,)


def test_a_guest_is_told_in_the_app_only() -> None:
    platform = Platform()
    user_id, _ = new_user()
    platform.deliver(guest(user_id))
    platform.deliver(profile(user_id, None, ["email", "sms"], guest=True, full_name="Guest"))
    platform.deliver(confirmed(user_id))
    (row,) = platform.rows(user_id, channel=None)
    assert (row.notification.channel, row.status, row.recipient) == (IN_APP, Status.SENT, None)
    assert row.sent_at is not None


def test_order_events_before_the_guest_is_known_end_in_the_app() -> None:
    platform = Platform()
    user_id, _ = new_user()
    platform.deliver(created(user_id))  # before account.guest_registered (another topic)
    platform.deliver(guest(user_id))
    assert made(platform, user_id) == Counter(
        {(Kind.ORDER_PLACED, IN_APP, Status.SENT): 1, (Kind.ORDER_PLACED, SMS, Status.SKIPPED): 1}
    )
    skipped = platform.rows(user_id, SMS)[0]
    assert skipped.last_error == NOT_TAKEN


def test_order_events_before_the_profile_go_on_its_channels() -> None:
    platform = Platform()
    user_id, email = new_user()
    platform.deliver(confirmed(user_id))
    platform.deliver(profile(user_id, email, ["sms"]))
    assert made(platform, user_id) == Counter(
        {
            (Kind.ORDER_CONFIRMED, SMS, Status.PENDING): 1,
            (Kind.ORDER_CONFIRMED, EMAIL, Status.SKIPPED): 1,
        }
    )
    assert platform.rows(user_id, SMS)[0].recipient == PHONE


def test_a_late_registration_does_not_undo_the_profile() -> None:
    platform = Platform()
    user_id, email = new_user()
    platform.deliver(profile(user_id, email, ["email", "sms"]))
    platform.deliver(registered(user_id, email))  # auth's event, later than user_service's
    assert platform.store.contacts[user_id].channels == (EMAIL, SMS)
    assert Counter(r.notification.channel for r in platform.rows(user_id, None)) == Counter(
        {EMAIL: 1, SMS: 1}  # the welcome on both
    )


def test_a_converted_guest_is_welcomed_and_notified_by_email() -> None:
    platform = Platform()
    user_id, email = new_user()
    platform.deliver(guest(user_id))
    platform.deliver(converted(user_id, email))
    platform.deliver(confirmed(user_id))
    assert made(platform, user_id) == Counter(
        {(Kind.WELCOME, EMAIL, Status.PENDING): 1, (Kind.ORDER_CONFIRMED, EMAIL, Status.PENDING): 1}
    )
    assert {r.recipient for r in platform.rows(user_id)} == {email}


def test_an_sms_provider_that_is_down_does_not_hold_up_email_and_keeps_its_key() -> None:
    platform = Platform()
    user_id, email = new_user()
    platform.deliver(profile(user_id, email, ["email", "sms"]))
    platform.deliver(confirmed(user_id))
    policy = SenderPolicy(retry=RetryPolicy(retry_initial=2.0))
    mail, texts = (
        Transport(),
        Transport(ChannelUnavailable("ConnectError"), ChannelUnavailable("x")),
    )
    email_sender = NotificationSender(
        platform.unit_of_work, lambda: mail, policy, clock=platform.clock.monotonic
    )
    sms_sender = NotificationSender(
        platform.unit_of_work, lambda: texts, policy, channel=SMS, clock=platform.clock.monotonic
    )
    assert sms_sender.send_due() == 1 and texts.sent == []
    assert email_sender.send_due() == 1
    assert [to for to, _, _ in mail.sent] == [email]
    platform.clock.advance(2.1)
    assert sms_sender.send_due() == 1  # the second failure: backoff doubles
    platform.clock.advance(2.1)
    assert sms_sender.send_due() == 0
    platform.clock.advance(2.0)
    assert sms_sender.send_due() == 1
    (row,) = platform.rows(user_id, SMS)
    assert (row.status, row.attempts) == (Status.SENT, 3)
    assert texts.attempts == 3
    assert [(to, key) for to, _, key in texts.sent] == [(PHONE, row.notification.notification_id)]
    assert email_sender.send_due() == 0 and len(mail.sent) == 1


def test_a_contact_saved_while_mail_was_recorded_is_settled_by_the_sender() -> None:
    platform = Platform()
    user_id, _ = new_user()
    platform.deliver(confirmed(user_id))
    # The contact commits without seeing the waiting rows (a concurrent transaction).
    platform.store.contacts[user_id] = Contact(user_id, None, "Guest", guest=True)
    mail, texts = Transport(), Transport()
    for channel, transport in ((EMAIL, mail), (SMS, texts)):
        sender = NotificationSender(
            platform.unit_of_work,
            lambda t=transport: t,
            channel=channel,
        )
        assert sender.send_due() == 1
    assert mail.attempts == texts.attempts == 0
    assert made(platform, user_id) == Counter(
        {
            (Kind.ORDER_CONFIRMED, IN_APP, Status.SENT): 1,
            (Kind.ORDER_CONFIRMED, SMS, Status.SKIPPED): 1,
        }
    )
