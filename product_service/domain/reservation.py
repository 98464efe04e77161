"""Stock reservations: one order's claim on stock. Pure Python: no framework, database or broker
here.

An order reserves every line or none (:func:`plan_reservation`), at the prices of the moment;
the reservation is then committed (sold) or released (available again) exactly once, and nothing
after that changes it. What it decides is recorded as event objects of the catalog
(``contracts.events``) in ``events``; the unit of work publishes them with the change, and the
repository moves the products' stock counters (domain/product.py) with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar

from contracts.events import (
    OrderLine,
    PricedLine,
    StockCommitted,
    StockReleased,
    StockReservationFailed,
    StockReserved,
)
from contracts.money import CENT, money_text
from servicekit.messaging.envelope import Event


class ReservationStatus(StrEnum):
    """Where one order's reservation stands; only RESERVED still holds stock. VOIDED: the
    order ended before its order.created arrived, which then reserves nothing."""

    RESERVED = "RESERVED"
    RELEASED = "RELEASED"
    COMMITTED = "COMMITTED"
    FAILED = "FAILED"
    VOIDED = "VOIDED"


@dataclass(frozen=True, slots=True)
class StockLevel:
    """What the reservation rules need to know of one product."""

    product_id: str
    price: Decimal
    currency: str
    available: int
    archived: bool = False  # no longer orderable


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
    # The order service refuses archived products from its read model; an order placed before
    # it learnt of the archive still reaches this point, and is refused here.
    archived = [pid for pid in requested if pid in stock and stock[pid].archived]
    if archived:
        problems.append(f"archived product: {', '.join(archived)}")
    for pid, quantity in requested.items():
        level = stock.get(pid)
        if level is None or level.archived or quantity < 1:
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
    COMMITTED and RELEASED are final; VOIDED (no currency: it never saw the order's lines) says
    why nothing will be. Loaded for a change once final, it has no lines."""

    aggregate_type: ClassVar[str] = StockReserved.aggregate_type  # "stock_reservation"

    order_id: str
    customer_id: str
    currency: str | None
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
        payment_method: str = "card",
    ) -> Reservation:
        """Every requested line at the product's price (stock.reserved, which passes the
        order's payment method on to payment_service), or nothing, and why
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
                payment_method=payment_method,
            )
        )
        return reservation

    @classmethod
    def void(cls, *, order_id: str, customer_id: str, reason: str) -> Reservation:
        """The order ended (``reason``) before its order.created arrived: hold nothing, now or
        when it does arrive (replayed from a dead letter topic, say). Nothing to announce: no
        service waits on stock for an order that is over."""
        return cls(
            order_id, customer_id, None, None, ReservationStatus.VOIDED, failure_reason=reason
        )

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
