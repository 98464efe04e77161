"""What each email says, and how text a customer or an event chose is made safe to put in it."""

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
