"""Payments: statuses, money, and what a cancellation does to a payment. Pure Python."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Literal


class PaymentStatus(StrEnum):
    """Where a payment ends up; one row per order, whatever the order of events."""

    AUTHORIZED = "AUTHORIZED"
    DECLINED = "DECLINED"
    REFUNDED = "REFUNDED"
    # A tombstone: the order was cancelled before any charge, so none will ever be made.
    VOIDED = "VOIDED"


DEADLINE_PASSED = "saga deadline passed"
# ISO 4217 "no currency": a voided tombstone moved no money.
NO_CURRENCY = "XXX"


def net_charge(status: str, amount: Decimal) -> Decimal:
    """What a payment in this status costs the customer: only an authorized one holds money."""
    return amount if status == PaymentStatus.AUTHORIZED else Decimal("0.00")


def action_on_order_ended(status: str | None) -> Literal["refund", "void", "none"]:
    """What a cancellation or rejection does to the order's payment: refund, void or nothing."""
    if status is None:
        return "void"
    if status == PaymentStatus.AUTHORIZED:
        return "refund"
    return "none"  # DECLINED, REFUNDED, VOIDED: no money is held
