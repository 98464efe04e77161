"""The order and its saga state machine (ARCHITECTURE.md, "Order saga"). Pure Python.

Events reach the order from different topics in any order, and more than once. Every method is
therefore written as "record what this event says, then see whether the order can move", so that
``stock.reserved`` then ``payment.authorized`` and the reverse both end CONFIRMED, and a late
event for a finished order is recorded but never re-opens it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class OrderStatus(StrEnum):
    """Where the order is in the saga."""

    PENDING = "PENDING"
    STOCK_RESERVED = "STOCK_RESERVED"
    CONFIRMED = "CONFIRMED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"


class PaymentStatus(StrEnum):
    """What the payment service last said about this order."""

    PENDING = "PENDING"
    AUTHORIZED = "AUTHORIZED"
    DECLINED = "DECLINED"
    REFUNDED = "REFUNDED"
    VOIDED = "VOIDED"


class InventoryStatus(StrEnum):
    """What the product service last said about this order's stock."""

    PENDING = "PENDING"
    RESERVED = "RESERVED"
    INSUFFICIENT = "INSUFFICIENT"
    RELEASED = "RELEASED"
    COMMITTED = "COMMITTED"


OPEN = frozenset({OrderStatus.PENDING, OrderStatus.STOCK_RESERVED})
TERMINAL = frozenset({OrderStatus.CONFIRMED, OrderStatus.REJECTED, OrderStatus.CANCELLED})


class CannotCancel(Exception):
    """409: the order is confirmed or already finished."""


@dataclass(frozen=True, slots=True)
class Line:
    """One product line."""

    product_id: str
    quantity: int
    unit_price: Decimal


@dataclass
class Order:
    """An order's saga state; methods return the event types the order must emit."""

    order_id: str
    customer_id: str
    status: OrderStatus
    payment_status: PaymentStatus
    inventory_status: InventoryStatus
    lines: list[Line]
    currency: str
    failure_reason: str | None = None
    emitted: list[str] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        """Sum of quantity x unit price."""
        return sum((line.unit_price * line.quantity for line in self.lines), Decimal("0.00"))

    def _emit(self, event_type: str) -> None:
        self.emitted.append(event_type)

    def _confirm_if_ready(self) -> None:
        if (
            self.status == OrderStatus.STOCK_RESERVED
            and self.payment_status == PaymentStatus.AUTHORIZED
        ):
            self.status = OrderStatus.CONFIRMED
            self._emit("order.confirmed")

    def _cancel(self, reason: str) -> None:
        self.status = OrderStatus.CANCELLED
        self.failure_reason = reason
        self._emit("order.cancelled")

    def stock_reserved(self, priced: list[Line]) -> None:
        """Every line is held, at these prices."""
        if self.inventory_status == InventoryStatus.PENDING:
            self.inventory_status = InventoryStatus.RESERVED
        if self.status == OrderStatus.PENDING:
            self.lines = priced
            self.status = OrderStatus.STOCK_RESERVED
            self._confirm_if_ready()
        # A late reservation for a cancelled order: product releases it on order.cancelled.

    def stock_reservation_failed(self, reason: str) -> None:
        """Nothing could be reserved."""
        self.inventory_status = InventoryStatus.INSUFFICIENT
        if self.status in OPEN:
            self.status = OrderStatus.REJECTED
            self.failure_reason = reason
            self._emit("order.rejected")

    def payment_authorized(self) -> None:
        """The money is held; confirm once the stock is too."""
        if self.payment_status == PaymentStatus.PENDING:
            self.payment_status = PaymentStatus.AUTHORIZED
        self._confirm_if_ready()
        # Authorized after a cancellation: payment refunds it when it sees order.cancelled.

    def payment_declined(self, reason: str) -> None:
        """No money: cancel, which releases the stock."""
        if self.payment_status == PaymentStatus.PENDING:
            self.payment_status = PaymentStatus.DECLINED
        if self.status in OPEN:
            self._cancel(f"payment declined: {reason}")

    def payment_refunded(self) -> None:
        """An authorization was given back."""
        self.payment_status = PaymentStatus.REFUNDED

    def payment_voided(self) -> None:
        """Cancelled before any charge."""
        if self.payment_status == PaymentStatus.PENDING:
            self.payment_status = PaymentStatus.VOIDED

    def stock_released(self) -> None:
        """The reservation was given back."""
        if self.inventory_status != InventoryStatus.COMMITTED:
            self.inventory_status = InventoryStatus.RELEASED

    def stock_committed(self) -> None:
        """The reserved stock is sold."""
        self.inventory_status = InventoryStatus.COMMITTED

    def cancel(self, reason: str = "cancelled by the customer") -> None:
        """Customer cancellation: allowed until CONFIRMED."""
        if self.status not in OPEN:
            raise CannotCancel(f"order is {self.status.value} and can no longer be cancelled")
        self._cancel(reason)

    def time_out(self) -> bool:
        """The saga made no progress in time: cancel with compensation. False if finished."""
        if self.status not in OPEN:
            return False
        self._cancel("saga timed out")
        return True
