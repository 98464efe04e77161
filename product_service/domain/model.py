"""The stock reservation rules. Pure Python: no framework imports.

Stock conservation, per product: ``initial + adjusted = available + reserved + sold``. Orders only
move units between available, reserved and sold; an admin setting the available quantity records
the difference in ``adjusted``. The database enforces the equation with a CHECK constraint.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from contracts.money import MAX_AMOUNT

CENT = Decimal("0.01")
MAX_PRICE = MAX_AMOUNT
MAX_STOCK = 1_000_000_000
SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]*$"


class ReservationStatus(StrEnum):
    """Where one order's reservation stands; only RESERVED still holds stock."""

    RESERVED = "RESERVED"
    RELEASED = "RELEASED"
    COMMITTED = "COMMITTED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class StockLevel:
    """What the reservation rules need to know of one product."""

    product_id: str
    price: Decimal
    currency: str
    available: int


@dataclass(frozen=True, slots=True)
class ReservedLine:
    """One product of a reservation, at the price it was reserved at."""

    product_id: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class ReservationPlan:
    """Every line of an order, reservable together."""

    lines: tuple[ReservedLine, ...]
    total: Decimal


class ReservationRefused(Exception):
    """Nothing can be reserved for this order; the message says why."""


def requested_quantities(items: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Quantity per product, lines of the same product summed, in product id order."""
    totals: dict[str, int] = {}
    for product_id, quantity in items:
        totals[product_id] = totals.get(product_id, 0) + quantity
    return dict(sorted(totals.items()))


def plan_reservation(
    requested: Mapping[str, int], stock: Mapping[str, StockLevel], *, currency: str
) -> ReservationPlan:
    """Reserve every line or none: raises ReservationRefused with every reason at once."""
    if not requested:
        raise ReservationRefused("order has no items")
    problems: list[str] = []
    bad_quantities = [f"{pid} ({qty})" for pid, qty in requested.items() if qty < 1]
    if bad_quantities:
        problems.append(f"quantity must be at least 1: {', '.join(bad_quantities)}")
    unknown = [pid for pid in requested if pid not in stock]
    if unknown:
        problems.append(f"unknown product: {', '.join(unknown)}")
    for pid, quantity in requested.items():
        level = stock.get(pid)
        if level is None or quantity < 1:
            continue
        if level.currency != currency:
            problems.append(
                f"currency mismatch for product {pid}: priced in {level.currency}, "
                f"order in {currency}"
            )
        elif level.available < quantity:
            problems.append(
                f"insufficient stock for product {pid}: requested {quantity}, "
                f"available {level.available}"
            )
    if problems:
        raise ReservationRefused("; ".join(problems))
    lines = tuple(
        ReservedLine(pid, quantity, stock[pid].price) for pid, quantity in requested.items()
    )
    total = sum((line.unit_price * line.quantity for line in lines), Decimal(0))
    return ReservationPlan(lines=lines, total=total.quantize(CENT))
