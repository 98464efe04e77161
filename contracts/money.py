"""Money on the wire: a decimal string with two places (API.md), the same in every service."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")


class InvalidAmount(ValueError):
    """An amount that is not a finite decimal."""


def to_amount(value: str | Decimal) -> Decimal:
    """A decimal amount rounded to cents (half up)."""
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise InvalidAmount(f"not a decimal amount: {value!r}") from exc
    if not amount.is_finite():
        raise InvalidAmount(f"not a finite amount: {value!r}")
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def money_text(value: str | Decimal) -> str:
    """``Decimal("5")`` -> ``"5.00"``: what events and the API carry."""
    return f"{to_amount(value):.2f}"
