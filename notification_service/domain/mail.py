"""What each email and SMS says, and how text a customer or an event chose is made safe to put
in it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from notification_service.domain.model import Kind, Mail


@dataclass(frozen=True, slots=True)
class Line:
    """An order line as the confirmation lists it."""

    product_id: str
    quantity: int
    unit_price: str


_SIGNATURE = "\n-- \nOrder Platform\nThis message was sent automatically; replies are not read.\n"

# C0 and C1 control characters (CR, LF and NUL among them), DEL, the Unicode line and paragraph
# separators and the bidirectional overrides. In text a customer chose (the full name) they could
# only break the mail's lines, smuggle in what looks like headers or a forged paragraph, or make
# the text read differently from what it is; no name needs them.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")


def _one_line(text: str) -> str:
    """``text`` as one plain line: each run of control characters becomes a space, runs of
    whitespace one space, none at either end."""
    return " ".join(_CONTROLS.sub(" ", text).split())


def _greeting(full_name: str | None) -> str:
    name = _one_line(full_name) if full_name else ""
    return f"Hello {name}," if name else "Hello,"


def welcome_mail(full_name: str) -> Mail:
    """After registration."""
    return Mail(
        subject="Welcome to Order Platform",
        body=(
            f"{_greeting(full_name)}\n\n"
            "your account is ready. You can now browse the catalog and place orders.\n"
            f"{_SIGNATURE}"
        ),
    )


def order_confirmed_mail(
    *,
    order_id: str,
    full_name: str | None,
    total: str,
    currency: str,
    lines: Sequence[Line],
) -> Mail:
    """The order is paid for and its stock is held."""
    order_id, total, currency = _one_line(order_id), _one_line(total), _one_line(currency)
    items = "\n".join(
        f"  - {line.quantity} x {_one_line(line.product_id)} at {_one_line(line.unit_price)}"
        f" {currency}"
        for line in lines
    )
    return Mail(
        subject=f"Your order {order_id} is confirmed",
        body=(
            f"{_greeting(full_name)}\n\n"
            f"your order {order_id} is confirmed.\n\n"
            f"Order:  {order_id}\nStatus: CONFIRMED\nTotal:  {total} {currency}\n"
            f"Items:\n{items}\n"
            f"{_SIGNATURE}"
        ),
    )


def order_ended_mail(*, kind: Kind, order_id: str, full_name: str | None, reason: str) -> Mail:
    """The order was cancelled (``Kind.ORDER_CANCELLED``) or rejected; nothing is charged."""
    order_id, reason = _one_line(order_id), _one_line(reason)
    if kind == Kind.ORDER_CANCELLED:
        subject, status, what = (
            f"Your order {order_id} was cancelled",
            "CANCELLED",
            "was cancelled",
        )
    else:
        subject, status, what = (
            f"Your order {order_id} could not be accepted",
            "REJECTED",
            "could not be accepted",
        )
    return Mail(
        subject=subject,
        body=(
            f"{_greeting(full_name)}\n\n"
            f"your order {order_id} {what}.\n\n"
            f"Order:  {order_id}\nStatus: {status}\nReason: {reason}\n\n"
            "You have not been charged for it; any payment taken was refunded.\n"
            f"{_SIGNATURE}"
        ),
    )


def order_placed_mail(*, order_id: str, full_name: str | None, item_count: int) -> Mail:
    """The order was received; it is confirmed once its stock and payment are settled."""
    order_id = _one_line(order_id)
    return Mail(
        subject=f"We received your order {order_id}",
        body=(
            f"{_greeting(full_name)}\n\n"
            f"we received your order {order_id} ({item_count} item(s)).\n\n"
            f"Order:  {order_id}\nStatus: PENDING\n\n"
            "We will write again once it is confirmed.\n"
            f"{_SIGNATURE}"
        ),
    )


def fulfilment_mail(*, kind: Kind, order_id: str, full_name: str | None) -> Mail:
    """The order was shipped (``Kind.ORDER_SHIPPED``) or delivered."""
    order_id = _one_line(order_id)
    if kind == Kind.ORDER_SHIPPED:
        subject, status, what = f"Your order {order_id} is on its way", "SHIPPED", "was shipped"
    else:
        subject, status, what = f"Your order {order_id} was delivered", "DELIVERED", "was delivered"
    return Mail(
        subject=subject,
        body=(
            f"{_greeting(full_name)}\n\n"
            f"your order {order_id} {what}.\n\n"
            f"Order:  {order_id}\nStatus: {status}\n"
            f"{_SIGNATURE}"
        ),
    )


# What each kind says by SMS after "Order Platform: ", from the order id; one line, far under
# one 160-character segment for an order id (36 characters).
_SMS_TEXTS = {
    Kind.ORDER_PLACED: "we received your order {order_id}.",
    Kind.ORDER_CONFIRMED: "your order {order_id} is confirmed. Total {total}.",
    Kind.ORDER_CANCELLED: "your order {order_id} was cancelled. You were not charged.",
    Kind.ORDER_REJECTED: "your order {order_id} could not be accepted. You were not charged.",
    Kind.ORDER_SHIPPED: "your order {order_id} is on its way.",
    Kind.ORDER_DELIVERED: "your order {order_id} was delivered.",
}


def sms(kind: Kind, mail: Mail, *, order_id: str | None = None, total: str = "") -> Mail:
    """The SMS of a notification: the email's subject (what the API lists) and a one-line body.
    No name in it: a text to a phone number is read by whoever holds the phone."""
    if kind == Kind.WELCOME or order_id is None:
        text = "your account is ready."
    else:
        text = _SMS_TEXTS[kind].format(order_id=_one_line(order_id), total=_one_line(total))
    return Mail(subject=mail.subject, body=f"Order Platform: {text}")
