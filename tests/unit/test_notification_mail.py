"""The notification email written directly is byte for byte what smtplib's send_message() would
send for the EmailMessage, and anything the email package would rewrite is left to it."""

from __future__ import annotations

import copy
import io
import uuid
from datetime import UTC, datetime
from email.generator import BytesGenerator
from email.utils import formatdate, getaddresses

import pytest

from notification_service.adapters import smtp
from notification_service.adapters.smtp import build_message, envelope_sender, plain_message_bytes
from notification_service.domain.model import (
    Kind,
    Line,
    Mail,
    order_confirmed_mail,
    order_ended_mail,
    welcome_mail,
)

MAIL_FROM = "Order Platform <no-reply@order-platform.local>"
SENT_AT = datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=UTC)
ORDER_ID = str(uuid.uuid4())

MAILS = [
    welcome_mail("Ada Lovelace"),
    order_confirmed_mail(
        order_id=ORDER_ID,
        full_name=None,
        total="20.00",
        currency="EUR",
        lines=[Line(str(uuid.uuid4()), 2, "10.00")],
    ),
    order_ended_mail(
        kind=Kind.ORDER_CANCELLED, order_id=ORDER_ID, full_name="Ada", reason="payment declined"
    ),
    order_ended_mail(
        kind=Kind.ORDER_REJECTED, order_id=ORDER_ID, full_name="Ada", reason="out of stock"
    ),
    Mail(subject="x", body=""),
    Mail(subject="x", body="a\r\nb\rc\n\n trailing \t\n.dot"),
    Mail(subject="x", body="x" * 78),
]


def as_send_message_writes(mail_from: str, recipient: str, mail: Mail, message_id: str) -> bytes:
    """The bytes of build_message() as SMTP.send_message() flattens them."""
    message = build_message(
        mail_from=mail_from, recipient=recipient, mail=mail, message_id=message_id
    )
    out = io.BytesIO()
    BytesGenerator(out).flatten(copy.copy(message), linesep="\r\n")
    return out.getvalue()


@pytest.fixture(autouse=True)
def fixed_date(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        smtp, "formatdate", lambda usegmt=False: formatdate(SENT_AT.timestamp(), usegmt=usegmt)
    )


@pytest.mark.parametrize("mail", MAILS, ids=lambda m: m.subject[:20])
@pytest.mark.parametrize(
    "mail_from", [MAIL_FROM, "no-reply@example.com", "Bestellservice Zoë <no-reply@example.com>"]
)
def test_plain_mail_is_what_send_message_sends(mail: Mail, mail_from: str) -> None:
    message_id = str(uuid.uuid4())
    written = plain_message_bytes(
        mail_from=mail_from,
        recipient="user-1f2e.x+tag@mail.example.com",
        mail=mail,
        message_id=message_id,
        date=SENT_AT,
    )
    assert written == as_send_message_writes(
        mail_from, "user-1f2e.x+tag@mail.example.com", mail, message_id
    )
    assert envelope_sender(mail_from) == getaddresses([mail_from])[0][1]


def test_a_sender_address_needing_smtputf8_is_left_to_send_message() -> None:
    written = plain_message_bytes(
        mail_from="Zoë <zoë@example.com>",
        recipient="ada@example.com",
        mail=MAILS[0],
        message_id=str(uuid.uuid4()),
        date=SENT_AT,
    )
    assert written is None


@pytest.mark.parametrize(
    ("recipient", "mail"),
    [
        ("Ada <ada@example.com>", MAILS[0]),
        ("zoë@example.com", MAILS[0]),
        ("ada@example.com, bob@example.com", MAILS[0]),
        ("ada@example.com", Mail(subject="Grüße", body="b")),
        ("ada@example.com", Mail(subject="=?utf-8?q?x?=", body="b")),
        ("ada@example.com", Mail(subject="two  spaces", body="b")),
        ("ada@example.com", Mail(subject="s" * 70, body="b")),
        ("ada@example.com", Mail(subject="s", body="Hello Zoë,\n")),
        ("ada@example.com", Mail(subject="s", body="x" * 79)),
        ("ada@example.com", Mail(subject="s", body="From here on\n")),
    ],
)
def test_anything_the_email_package_would_rewrite_is_left_to_it(recipient: str, mail: Mail) -> None:
    written = plain_message_bytes(
        mail_from=MAIL_FROM,
        recipient=recipient,
        mail=mail,
        message_id=str(uuid.uuid4()),
        date=SENT_AT,
    )
    assert written is None
