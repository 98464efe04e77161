"""The catalog and its stock, and the reservations orders make on it. Pure Python: no framework,
database or broker here.

Stock conservation, per product: ``initial + adjusted = available + reserved + sold``. Orders only
move units between available, reserved and sold (:class:`Stock`); an admin setting the available
quantity records the difference in ``adjusted``. The database enforces the same equation with
CHECK constraints, the last line of defence behind these rules.

A reservation is one order's claim on stock: every line or none (:func:`plan_reservation`), then
committed (sold) or released (available again) exactly once. What products and reservations
decide is recorded as event objects of the catalog (``contracts.events``) in ``events``; the unit
of work publishes them with the change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import Enum, StrEnum
from typing import ClassVar

from contracts.events import (
    OrderLine,
    PricedLine,
    ProductCreated,
    ProductUpdated,
    StockCommitted,
    StockReleased,
    StockReservationFailed,
    StockReserved,
)
from contracts.money import CENT, money_text, to_amount
from product_service.domain.errors import StockRuleBroken
from servicekit.messaging.envelope import Event

MAX_STOCK = 1_000_000_000
SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]*$"


# -- stock -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stock:
    """One product's stock counters; every move keeps them conserved and none negative."""

    initial: int
    available: int
    adjusted: int = 0
    reserved: int = 0
    sold: int = 0

    @classmethod
    def opening(cls, quantity: int) -> Stock:
        """A new product's stock: all of it available."""
        return cls(initial=quantity, available=quantity)._checked()

    @property
    def conserved(self) -> bool:
        """``initial + adjusted = available + reserved + sold``, no counter below zero."""
        return (
            self.initial + self.adjusted == self.available + self.reserved + self.sold
            and min(self.initial, self.available, self.reserved, self.sold) >= 0
        )

    def reserve(self, quantity: int) -> Stock:
        """available -> reserved."""
        return replace(
            self, available=self.available - quantity, reserved=self.reserved + quantity
        )._checked()

    def commit(self, quantity: int) -> Stock:
        """reserved -> sold."""
        return replace(
            self, reserved=self.reserved - quantity, sold=self.sold + quantity
        )._checked()

    def release(self, quantity: int) -> Stock:
        """reserved -> available."""
        return replace(
            self, reserved=self.reserved - quantity, available=self.available + quantity
        )._checked()

    def set_available(self, quantity: int) -> Stock:
        """An admin sets the quantity available for new orders; held and sold units stay, the
        difference goes to ``adjusted``."""
        delta = quantity - self.available
        return replace(self, available=quantity, adjusted=self.adjusted + delta)._checked()

    def _checked(self) -> Stock:
        if not self.conserved:
            raise StockRuleBroken(f"stock would not be conserved: {self}")
        return self


# -- products ----------------------------------------------------------------------------------


class Keep(Enum):
    """Marks a field a change leaves as it is (``None`` is a value: it clears a description)."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True, slots=True)
class ProductChanges:
    """What an admin changes in a product; fields left at KEEP stay as they are."""

    name: str | Keep = KEEP
    description: str | Keep | None = KEEP
    price: Decimal | Keep = KEEP
    stock: int | Keep = KEEP  # the new AVAILABLE quantity

    @property
    def given(self) -> list[str]:
        """The names of the fields that change, sorted."""
        values = {
            "description": self.description,
            "name": self.name,
            "price": self.price,
            "stock": self.stock,
        }
        return [name for name, value in values.items() if value is not KEEP]

    @property
    def empty(self) -> bool:
        """Nothing to change."""
        return not self.given


@dataclass(frozen=True, slots=True)
class StockAdjustment:
    """An admin's change of the available quantity, kept for the audit trail."""

    delta: int
    available: int
    adjusted_by: str


@dataclass
class Product:
    """A product of the catalog with its stock, the events its changes recorded, and the stock
    adjustments not yet stored."""

    aggregate_type: ClassVar[str] = ProductCreated.aggregate_type  # "product", its lock's name

    product_id: str
    sku: str
    name: str
    description: str | None
    price: Decimal
    currency: str
    stock: Stock
    events: list[Event] = field(default_factory=list)
    adjustments: list[StockAdjustment] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        *,
        product_id: str,
        sku: str,
        name: str,
        description: str | None,
        price: Decimal,
        currency: str,
        stock: int,
    ) -> Product:
        """A new product with its initial stock, announced as product.created."""
        product = cls(
            product_id, sku, name, description, to_amount(price), currency, Stock.opening(stock)
        )
        product.events.append(ProductCreated(**product._announced()))
        return product

    def change(self, changes: ProductChanges, *, actor: str) -> None:
        """Apply an admin's changes, announced as product.updated (nothing when there are none).
        A new stock sets the AVAILABLE quantity and is recorded as an adjustment by ``actor``."""
        if changes.empty:
            return
        if not isinstance(changes.name, Keep):
            self.name = changes.name
        if not isinstance(changes.description, Keep):
            self.description = changes.description
        if not isinstance(changes.price, Keep):
            self.price = to_amount(changes.price)
        if not isinstance(changes.stock, Keep):
            before = self.stock.available
            self.stock = self.stock.set_available(changes.stock)
            self.adjustments.append(StockAdjustment(changes.stock - before, changes.stock, actor))
        self.events.append(ProductUpdated(**self._announced()))

    def _announced(self) -> dict[str, str]:
        """The product as the order service's read model needs it."""
        return {
            "product_id": self.product_id,
            "sku": self.sku,
            "name": self.name,
            "price": money_text(self.price),
            "currency": self.currency,
        }


# -- reservations ------------------------------------------------------------------------------


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


@dataclass
class Reservation:
    """One order's reservation: RESERVED holds ``lines``; FAILED says why nothing was held;
    COMMITTED and RELEASED are final. Loaded for a change once final, it has no lines."""

    aggregate_type: ClassVar[str] = StockReserved.aggregate_type  # "stock_reservation"

    order_id: str
    customer_id: str
    currency: str
    deadline_at: datetime | None
    status: ReservationStatus
    lines: tuple[ReservedLine, ...] = ()
    total: Decimal | None = None
    failure_reason: str | None = None
    events: list[Event] = field(default_factory=list)

    @classmethod
    def reserve(
        cls,
        *,
        order_id: str,
        customer_id: str,
        currency: str,
        deadline_at: datetime,
        requested: Mapping[str, int],
        stock: Mapping[str, StockLevel],
    ) -> Reservation:
        """Every requested line at the product's price (stock.reserved), or nothing, and why
        (stock.reservation_failed)."""
        reservation = cls(order_id, customer_id, currency, deadline_at, ReservationStatus.FAILED)
        try:
            plan = plan_reservation(requested, stock, currency=currency)
        except ReservationRefused as refused:
            reservation.failure_reason = str(refused)
            reservation.events.append(
                StockReservationFailed(
                    order_id=order_id, customer_id=customer_id, reason=str(refused)
                )
            )
            return reservation
        reservation.status = ReservationStatus.RESERVED
        reservation.lines, reservation.total = plan.lines, plan.total
        reservation.events.append(
            StockReserved(
                order_id=order_id,
                customer_id=customer_id,
                items=[
                    PricedLine(
                        product_id=line.product_id,
                        quantity=line.quantity,
                        unit_price=money_text(line.unit_price),
                    )
                    for line in plan.lines
                ],
                total=money_text(plan.total),
                currency=currency,
                deadline_at=deadline_at,
            )
        )
        return reservation

    @property
    def held(self) -> bool:
        """True while it holds stock."""
        return self.status == ReservationStatus.RESERVED

    def commit(self) -> bool:
        """The order is paid for: the held units become sold (stock.committed). False, and
        nothing recorded, unless it held stock."""
        if not self.held:
            return False
        self.status = ReservationStatus.COMMITTED
        self.events.append(StockCommitted(order_id=self.order_id, items=self._order_lines()))
        return True

    def release(self, reason: str) -> bool:
        """The order ended without a sale: the held units are available again (stock.released).
        False, and nothing recorded, unless it held stock: after a commit nothing is given back."""
        if not self.held:
            return False
        self.status = ReservationStatus.RELEASED
        self.events.append(
            StockReleased(order_id=self.order_id, items=self._order_lines(), reason=reason)
        )
        return True

    def _order_lines(self) -> list[OrderLine]:
        return [
            OrderLine(product_id=line.product_id, quantity=line.quantity) for line in self.lines
        ]
