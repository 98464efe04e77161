"""The notification email written directly is byte for byte what smtplib's send_message() would
send for the EmailMessage, and anything the email package would rewrite is left to it."""

from __future__ import annotations

import copy
import email
import email.message
import email.policy
import io
import unicodedata
import uuid
from datetime import UTC, datetime
from email.generator import BytesGenerator
from email.utils import formatdate, getaddresses

import pytest

from notification_service.adapters import smtp
from notification_service.adapters.smtp import build_message, envelope_sender, plain_message_bytes
from notification_service.domain.mail import (
    Line,
    order_confirmed_mail,
    order_ended_mail,
    welcome_mail,
)
from notification_service.domain.model import Kind, Mail

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


# -- text a customer chose -------------------------------------------------------------------

HOSTILE_NAMES = {
    "crlf-header": ("Ada\r\nBcc: victim@example.com", "Ada Bcc: victim@example.com"),
    "lf-blank-line": ("Ada\n\nSubject: forged\n", "Ada Subject: forged"),
    "bare-cr": ("Ada\rLovelace", "Ada Lovelace"),
    "nul": ("Ada\x00Lovelace", "Ada Lovelace"),
    "escape-sequence": ("\x1b[2J\x1b[31mAda", "[2J [31mAda"),
    "c1-next-line-and-csi": ("Ada\x85Lovelace\x9b31m", "Ada Lovelace 31m"),
    "unicode-line-separators": ("Ada\u2028Love\u2029lace", "Ada Love lace"),
    "bidi-override": ("Ada \u202egpj.exe", "Ada gpj.exe"),
    "smtp-end-of-data": (
        "Ada\r\n.\r\nMAIL FROM:<x@example.com>",
        "Ada . MAIL FROM:<x@example.com>",
    ),
    "nothing-but-controls": ("\r\n\x00\t", None),
}


def greeting_of(mail: Mail) -> str:
    """The first line of the body, asserting the blank line that follows it is still there."""
    first, blank, *_ = mail.body.split("\n")
    assert blank == "", mail.body
    return first


def parsed(mail: Mail) -> email.message.EmailMessage:
    """The message as a mail client reads it, from the bytes the sender would write."""
    message_id = str(uuid.uuid4())
    written = plain_message_bytes(
        mail_from=MAIL_FROM,
        recipient="ada@example.com",
        mail=mail,
        message_id=message_id,
        date=SENT_AT,
    ) or as_send_message_writes(MAIL_FROM, "ada@example.com", mail, message_id)
    return email.message_from_bytes(written, policy=email.policy.default)


@pytest.mark.parametrize(("name", "shown"), HOSTILE_NAMES.values(), ids=HOSTILE_NAMES)
def test_control_characters_in_a_name_neither_add_headers_nor_break_the_body(
    name: str, shown: str | None
) -> None:
    mails = [
        welcome_mail(name),
        order_confirmed_mail(
            order_id=ORDER_ID,
            full_name=name,
            total="20.00",
            currency="EUR",
            lines=[Line("p-1", 2, "10.00")],
        ),
        order_ended_mail(
            kind=Kind.ORDER_CANCELLED, order_id=ORDER_ID, full_name=name, reason="declined"
        ),
    ]
    for mail in mails:
        assert greeting_of(mail) == (f"Hello {shown}," if shown else "Hello,")
        # The only control character left anywhere is the line feed between lines.
        assert [c for c in mail.body if unicodedata.category(c) == "Cc" and c != "\n"] == []
        message = parsed(mail)
        assert sorted(message.keys()) == sorted(
            [
                "From",
                "To",
                "Subject",
                "Date",
                "Message-ID",
                "Auto-Submitted",
                "Content-Type",
                "Content-Transfer-Encoding",
                "MIME-Version",
            ]
        )
        assert message["To"] == "ada@example.com"
        assert message["Subject"] == mail.subject
        body = message.get_content()
        assert body.replace("\r\n", "\n") == mail.body


def test_control_characters_in_event_fields_stay_on_their_line() -> None:
    mail = order_ended_mail(
        kind=Kind.ORDER_REJECTED,
        order_id=f"{ORDER_ID}\r\nBcc: x@example.com",
        full_name="Ada",
        reason="out of stock\r\n\r\nClick here",
    )
    assert "\r" not in mail.subject and "\n" not in mail.subject
    assert "Reason: out of stock Click here\n" in mail.body
    assert "Bcc" not in parsed(mail)
