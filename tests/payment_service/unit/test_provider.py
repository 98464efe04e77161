"""The simulated provider behind the card method: what it authorizes and what it declines."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from payment_service.adapters.provider import SimulatedProvider
from payment_service.domain.model import Authorized, Charge, Declined


def charge(amount: str, currency: str = "EUR") -> Charge:
    return Charge("order", "customer", Decimal(amount), currency, datetime.now(UTC))


@pytest.mark.parametrize("amount", ["0.00", "0.01", "12.34"])
def test_up_to_the_limit_is_authorized(amount: str) -> None:
    assert SimulatedProvider(Decimal("12.34")).authorize(charge(amount)) == Authorized()


@pytest.mark.parametrize(
    ("amount", "currency", "reason"),
    [
        ("12.35", "EUR", "amount above the limit of 12.34 EUR"),
        ("-0.01", "EUR", "invalid amount"),
        ("1.00", "EURO", "invalid currency"),
        ("1.00", "", "invalid currency"),
    ],
)
def test_declines_say_why(amount: str, currency: str, reason: str) -> None:
    answer = SimulatedProvider(Decimal("12.34")).authorize(charge(amount, currency))
    assert answer == Declined(reason)
