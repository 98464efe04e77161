"""The order and its saga state machine (docs/architecture.md, "The order saga").

Events reach the order from different topics in any order, and more than once. Every method is
therefore written as "record what this event says, then see whether the order can move", so that
``stock.reserved`` then ``payment.authorized`` and the reverse both end CONFIRMED, and a late
event for a finished order is recorded but never re-opens it. What the order decides is recorded
as event objects of the catalog (``contracts.events``) in ``events``; the unit of work publishes
them with the change. No framework, database or broker here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from contracts.events import (
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderLine,
    OrderRejected,
    PricedLine,
)
from contracts.money import MAX_AMOUNT, money_text
from order_service.domain.errors import CannotCancel, MixedCurrencies, TotalTooLarge
from servicekit.messaging.envelope import Event

# A catalog entry as the order sees it: (unit price, currency).
Price = tuple[Decimal, str]


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


@dataclass(frozen=True, slots=True)
class Line:
    """One product line."""

    product_id: str
    quantity: int
    unit_price: Decimal


@dataclass
class Order:
    """An order's saga state, and the events its changes recorded."""

    order_id: str
    customer_id: str
    status: OrderStatus
    payment_status: PaymentStatus
    inventory_status: InventoryStatus
    lines: list[Line]
    currency: str
    failure_reason: str | None = None
    placed_at: datetime | None = None
    deadline_at: datetime | None = None
    events: list[Event] = field(default_factory=list)

    @classmethod
    def place(
        cls,
        *,
        order_id: str,
        customer_id: str,
        items: list[tuple[str, int]],
        prices: Mapping[str, Price],
        deadline_at: datetime,
    ) -> Order:
        """A new PENDING order at today's catalog prices (stock.reserved fixes them later)."""
        currencies = {prices[product_id][1] for product_id, _ in items}
        if len(currencies) != 1:
            raise MixedCurrencies(f"all items must share one currency, got {sorted(currencies)}")
        lines = [Line(pid, qty, prices[pid][0]) for pid, qty in items]
        order = cls(
            order_id=order_id,
            customer_id=customer_id,
            status=OrderStatus.PENDING,
            payment_status=PaymentStatus.PENDING,
            inventory_status=InventoryStatus.PENDING,
            lines=lines,
            currency=currencies.pop(),
            deadline_at=deadline_at,
        )
        if order.total > MAX_AMOUNT:
            raise TotalTooLarge(
                f"the order total {order.total} is above the maximum of {MAX_AMOUNT}"
            )
        order.events.append(
            OrderCreated(
                order_id=order_id,
                customer_id=customer_id,
                items=[OrderLine(product_id=pid, quantity=qty) for pid, qty in items],
                currency=order.currency,
                deadline_at=deadline_at,
            )
        )
        return order

    @property
    def total(self) -> Decimal:
        """Sum of quantity x unit price."""
        return sum((line.unit_price * line.quantity for line in self.lines), Decimal("0.00"))

    @property
    def finished(self) -> bool:
        """True once the saga reached a final status."""
        return self.status in TERMINAL

    def _confirm_if_ready(self) -> None:
        if (
            self.status == OrderStatus.STOCK_RESERVED
            and self.payment_status == PaymentStatus.AUTHORIZED
        ):
            self.status = OrderStatus.CONFIRMED
            self.events.append(
                OrderConfirmed(
                    order_id=self.order_id,
                    customer_id=self.customer_id,
                    items=[
                        PricedLine(
                            product_id=line.product_id,
                            quantity=line.quantity,
                            unit_price=money_text(line.unit_price),
                        )
                        for line in self.lines
                    ],
                    total=money_text(self.total),
                    currency=self.currency,
                )
            )

    def _cancel(self, reason: str) -> None:
        self.status = OrderStatus.CANCELLED
        self.failure_reason = reason
        self.events.append(
            OrderCancelled(order_id=self.order_id, customer_id=self.customer_id, reason=reason)
        )

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
            self.events.append(
                OrderRejected(order_id=self.order_id, customer_id=self.customer_id, reason=reason)
            )

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
