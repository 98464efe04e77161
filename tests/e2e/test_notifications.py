"""Notifications on every channel, on the running stack: a customer who chose email and SMS gets
each order notification once per channel (the mail in the mail sink, the SMS in the SMS sink)
even when the events are delivered again; a customer with email only gets no SMS; a guest gets
none by email or SMS and sees them in the app; an SMS provider that is down is retried until it
answers and never holds up the email."""

from __future__ import annotations

import mailbox
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psycopg2
import pytest
from confluent_kafka import Producer

from devstack import layout, supervisor
from devstack.cli import wait_ready
from tests.e2e.conftest import User, create_guest, register
from tests.e2e.order_support import confirmed_order, staff_member, step
from tests.e2e.saga_support import create_product, place_order, port_of, service_metric, wait_order
from tests.support import TopicReader, headers_of, wait_for

pytestmark = pytest.mark.e2e

SMS_SINK = f"http://127.0.0.1:{layout.SMS_SINK_PORT}"
ORDER_KINDS = ("order_placed", "order_confirmed", "order_shipped", "order_delivered")


def new_phone() -> str:
    """An E.164 number (Brazil, mobile) no other test uses."""
    return f"+55119{uuid.uuid4().int % 10**8:08d}"


def notifications(api: httpx.Client, user: User) -> list[dict[str, Any]]:
    """GET /api/notifications as ``user``."""
    response = api.get("/api/notifications", headers=user.auth)
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


def sms_to(phone: str) -> list[dict[str, Any]]:
    """What the SMS sink received for ``phone``."""
    response = httpx.get(f"{SMS_SINK}/messages", params={"to": phone}, timeout=5)
    response.raise_for_status()
    body: list[dict[str, Any]] = response.json()
    return body


def mails_about(address: str, order_id: str) -> list[mailbox.MaildirMessage]:
    """The mails the mail sink holds for ``address`` that name ``order_id``."""
    box = mailbox.Maildir(layout.MAIL_DIR, create=False)
    return [m for m in box if address in (m["To"] or "") and order_id in (m["Subject"] or "")]


def choose(api: httpx.Client, user: User, phone: str, channels: list[str]) -> None:
    """Set the profile's phone and channels, and wait until notification_service knows them
    (user.profile_updated comes through another topic than the orders)."""
    response = api.patch(
        "/api/users/me",
        headers=user.auth,
        json={"phone": phone, "notification_channels": channels},
    )
    assert response.status_code == 200, response.text
    wait_for(
        lambda: contact_channels(user.user_id) == sorted(channels),
        timeout=30,
        what="notification_service to learn the channels",
    )


def contact_channels(user_id: str) -> list[str] | None:
    """The channels notification_service holds for a customer (None while unknown)."""
    url = layout.libpq_url("notification_service")
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT channels FROM contacts WHERE user_id = %s", (user_id,))
        row = cur.fetchone()
    return sorted(row[0]) if row else None


def of_order(items: list[dict[str, Any]], order_id: str) -> list[dict[str, Any]]:
    """The notifications about one order (their subjects name it)."""
    return [n for n in items if order_id in n["subject"]]


def sent_per_kind_and_channel(api: httpx.Client, user: User, order_id: str, count: int) -> Counter:
    """Wait until ``count`` of the order's notifications are SENT; how many per (kind, channel)."""
    done = wait_for(
        lambda: (
            (mine := of_order(notifications(api, user), order_id))
            and sum(n["status"] == "SENT" for n in mine) >= count
            and mine
        ),
        timeout=60,
        what=f"{count} notifications of order {order_id} sent",
    )
    return Counter((n["kind"], n["channel"]) for n in done)


@pytest.fixture
def sms_customer(api: httpx.Client) -> tuple[User, str]:
    """A customer notified by email and SMS, who chose SMS after the welcome was recorded.

    Channels are the contact's when an event is consumed, and notification_service gathers
    its fetches (up to 200 ms): a choice made within that window of registering can come in
    the same fetch as the registration, and the welcome then goes by SMS too.
    """
    user, phone = register(api), new_phone()
    wait_for(lambda: api.get("/api/users/me", headers=user.auth).status_code == 200)
    wait_for(
        lambda: any(n["kind"] == "welcome" for n in notifications(api, user)),
        what="the welcome recorded",
    )
    choose(api, user, phone, ["email", "sms"])
    return user, phone


def test_each_order_notification_once_per_channel_even_when_events_come_again(
    api: httpx.Client, admin: User, sms_customer: tuple[User, str]
) -> None:
    customer, phone = sms_customer
    staff = staff_member(api, admin)
    order_id = confirmed_order(api, admin, customer)
    for status in ("PREPARING", "SHIPPED", "DELIVERED"):
        assert step(api, staff, order_id, status).status_code == 200

    expected = Counter({(kind, channel): 1 for kind in ORDER_KINDS for channel in ("email", "sms")})
    assert sent_per_kind_and_channel(api, customer, order_id, 8) == expected
    texts = wait_for(lambda: (found := sms_to(phone)) and len(found) >= 4 and found)
    assert len(texts) == 4 and all(order_id in t["body"] for t in texts)
    assert (
        len(wait_for(lambda: (m := mails_about(customer.email, order_id)) and len(m) >= 4 and m))
        == 4
    )
    mail_ids = {m["Message-ID"] for m in mails_about(customer.email, order_id)}
    assert len(mail_ids) == 4  # one Message-ID per (notification, channel)

    # The order's events once more, byte for byte (same event ids): the inbox skips them, and
    # the unique (event, channel) would hold even if it did not.
    reader = TopicReader("order.events")
    wanted = {"order.created", "order.confirmed", "order.shipped", "order.delivered"}
    try:
        messages = reader.read_until(
            lambda ms: (
                wanted <= {headers_of(m)["event_type"] for m in ms if m.key() == order_id.encode()}
            )
        )
    finally:
        reader.close()
    copies = [
        m
        for m in messages
        if m.key() == order_id.encode() and headers_of(m)["event_type"] in wanted
    ]
    port = port_of("notification_service")
    skipped_before = service_metric(
        port,
        "inbox_duplicates_skipped_total",
        consumer="notification-service",
        event_type="order.delivered",
    )
    producer = Producer({"bootstrap.servers": layout.KAFKA_BOOTSTRAP})
    for message in copies:
        producer.produce(
            message.topic(), key=message.key(), value=message.value(), headers=message.headers()
        )
    assert producer.flush(30) == 0
    wait_for(
        lambda: (
            service_metric(
                port,
                "inbox_duplicates_skipped_total",
                consumer="notification-service",
                event_type="order.delivered",
            )
            > skipped_before
        ),
        what="notification_service skipped the repeated order.delivered",
    )
    assert (
        Counter((n["kind"], n["channel"]) for n in of_order(notifications(api, customer), order_id))
        == expected
    )
    assert len(sms_to(phone)) == 4
    assert len(mails_about(customer.email, order_id)) == 4


def test_a_customer_with_email_only_gets_no_sms(api: httpx.Client, admin: User) -> None:
    customer, phone = register(api), new_phone()
    wait_for(lambda: api.get("/api/users/me", headers=customer.auth).status_code == 200)
    choose(api, customer, phone, ["email"])
    order_id = confirmed_order(api, admin, customer)

    kinds = sent_per_kind_and_channel(api, customer, order_id, 2)
    assert kinds == Counter({("order_placed", "email"): 1, ("order_confirmed", "email"): 1})
    assert (
        len(wait_for(lambda: (m := mails_about(customer.email, order_id)) and len(m) >= 2 and m))
        == 2
    )
    assert sms_to(phone) == []
    assert all(n["channel"] == "email" for n in notifications(api, customer))


def test_a_guest_gets_nothing_by_email_or_sms_and_sees_its_notifications(
    api: httpx.Client, admin: User
) -> None:
    guest, phone = create_guest(), new_phone()
    wait_for(lambda: api.get("/api/users/me", headers=guest.auth).status_code == 200)
    # Even with a phone and SMS chosen: a guest is told in the app only.
    response = api.patch(
        "/api/users/me",
        headers=guest.auth,
        json={"phone": phone, "notification_channels": ["email", "sms"]},
    )
    assert response.status_code == 200, response.text
    product = create_product(api, admin, stock=3)
    placed = place_order(api, guest, [(product, 1)])
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["order_id"]
    wait_order(api, guest, order_id, until=lambda o: o["status"] == "CONFIRMED")

    seen = wait_for(
        lambda: (
            (mine := of_order(notifications(api, guest), order_id))
            and {n["kind"] for n in mine} >= {"order_placed", "order_confirmed"}
            and mine
        ),
        timeout=60,
        what="the guest's notifications",
    )
    assert Counter((n["kind"], n["channel"], n["status"]) for n in seen) == Counter(
        {("order_placed", "in_app", "SENT"): 1, ("order_confirmed", "in_app", "SENT"): 1}
    )
    assert all(n["channel"] == "in_app" for n in notifications(api, guest))
    assert sms_to(phone) == []
    box = mailbox.Maildir(layout.MAIL_DIR, create=False)
    assert not [m for m in box if order_id in (m["Subject"] or "")]


@contextmanager
def sms_sink_stopped() -> Iterator[None]:
    """The SMS sink stopped for the block; started again, and ready, afterwards."""
    supervisor.rpc().stopProcess("sms_sink", True)
    try:
        yield
    finally:
        supervisor.start("sms_sink")
        wait_ready("sms_sink")


def test_an_sms_provider_that_is_down_is_retried_and_does_not_hold_up_email(
    api: httpx.Client, admin: User, sms_customer: tuple[User, str]
) -> None:
    customer, phone = sms_customer
    product = create_product(api, admin, stock=3, price="7.00")
    with sms_sink_stopped():
        order_id = confirmed_order(api, admin, customer, product=product)
        # The mails go while the SMS provider is down; the SMS are tried and wait.
        wait_for(
            lambda: (
                {
                    n["kind"]
                    for n in of_order(notifications(api, customer), order_id)
                    if n["channel"] == "email" and n["status"] == "SENT"
                }
                == {"order_placed", "order_confirmed"}
            ),
            timeout=60,
            what="the mails, with the SMS provider down",
        )
        wait_for(
            lambda: failed_sms_attempts(order_id) >= 2,
            timeout=60,
            what="the SMS tried (and failed) while the provider is down",
        )
        assert {
            n["status"]
            for n in of_order(notifications(api, customer), order_id)
            if n["channel"] == "sms"
        } == {"PENDING"}
    kinds = sent_per_kind_and_channel(api, customer, order_id, 4)
    assert kinds == Counter(
        {(kind, channel): 1 for kind in ORDER_KINDS[:2] for channel in ("email", "sms")}
    )
    texts = wait_for(lambda: (found := sms_to(phone)) and len(found) >= 2 and found)
    assert sorted(t["body"] for t in texts) == sorted(
        [
            f"Order Platform: we received your order {order_id}.",
            f"Order Platform: your order {order_id} is confirmed. Total 7.00 EUR.",
        ]
    )


def failed_sms_attempts(order_id: str) -> int:
    """How many attempts the order's SMS have failed so far (from notification_service)."""
    url = layout.libpq_url("notification_service")
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT coalesce(sum(attempts), 0) FROM notifications"
            " WHERE channel = 'sms' AND status = 'PENDING' AND subject LIKE %s",
            (f"%{order_id}%",),
        )
        row = cur.fetchone()
    return int(row[0]) if row else 0
