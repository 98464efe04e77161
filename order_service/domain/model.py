"""The order: its saga state machine (docs/architecture.md, "The order saga"), then fulfilment.

Events reach the order from different topics in any order, and more than once. Every method is
therefore written as "record what this event says, then see whether the order can move", so that
``stock.reserved`` then ``payment.authorized`` and the reverse both end CONFIRMED, and a late
event for a finished order is recorded but never re-opens it. What the order decides is recorded
as event objects of the catalog (``contracts.events``) in ``events``; the unit of work publishes
them with the change. After CONFIRMED, staff move it forward one step at a time to DELIVERED.
No framework, database or broker here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from contracts.events import (
    Address,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderDelivered,
    OrderLine,
    OrderPreparing,
    OrderRejected,
    OrderShipped,
    PricedLine,
)
from contracts.money import MAX_AMOUNT, money_text
from order_service.domain.errors import (
    CannotCancel,
    FulfilmentNotAllowed,
    MixedCurrencies,
    TotalTooLarge,
)
from order_service.domain.statuses import (
    NEXT_FULFILMENT,
    OPEN,
    TERMINAL,
    FulfilmentStatus,
    InventoryStatus,
    OrderStatus,
    PaymentMethod,
    PaymentStatus,
    is_final,
)
from servicekit.messaging.envelope import Event

# A catalog entry as the order sees it: (unit price, currency).
Price = tuple[Decimal, str]

# The event each fulfilment step records.
_STEP_EVENTS: dict[FulfilmentStatus, type[OrderPreparing | OrderShipped | OrderDelivered]] = {
    FulfilmentStatus.PREPARING: OrderPreparing,
    FulfilmentStatus.SHIPPED: OrderShipped,
    FulfilmentStatus.DELIVERED: OrderDelivered,
}


# What payment_service has not decided yet (a pix charge waiting is no decision).
UNDECIDED = frozenset({PaymentStatus.PENDING, PaymentStatus.AWAITING_PAYMENT})


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
    delivery_address: Address | None = None
    payment_method: PaymentMethod = PaymentMethod.CARD
    # The request that placed the order: every log line and message of its saga carries it.
    correlation_id: str | None = None
    fulfilment: FulfilmentStatus = FulfilmentStatus.NOT_STARTED
    fulfilment_updated_at: datetime | None = None
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
        delivery_address: Address | None = None,
        payment_method: PaymentMethod = PaymentMethod.CARD,
        correlation_id: str | None = None,
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
            delivery_address=delivery_address,
            payment_method=payment_method,
            correlation_id=correlation_id,
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
                delivery_address=delivery_address,
                payment_method=payment_method.value,
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

    @property
    def final(self) -> bool:
        """True once nothing more can happen: rejected, cancelled or delivered."""
        return is_final(self.status, self.fulfilment)

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

    def payment_awaiting(self) -> None:
        """A pix charge waits for the customer to pay it: still no money."""
        if self.payment_status == PaymentStatus.PENDING:
            self.payment_status = PaymentStatus.AWAITING_PAYMENT

    def payment_authorized(self) -> None:
        """The money is held; confirm once the stock is too."""
        if self.payment_status in UNDECIDED:
            self.payment_status = PaymentStatus.AUTHORIZED
        self._confirm_if_ready()
        # Authorized after a cancellation: payment refunds it when it sees order.cancelled.

    def payment_declined(self, reason: str) -> None:
        """No money: cancel, which releases the stock."""
        if self.payment_status in UNDECIDED:
            self.payment_status = PaymentStatus.DECLINED
        if self.status in OPEN:
            self._cancel(f"payment declined: {reason}")

    def payment_refunded(self) -> None:
        """An authorization was given back."""
        self.payment_status = PaymentStatus.REFUNDED

    def payment_voided(self) -> None:
        """Cancelled before any charge."""
        if self.payment_status in UNDECIDED:
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

    # -- fulfilment: after CONFIRMED, forward one step at a time ------------------------------

    def start_preparing(self, *, changed_by: str, at: datetime) -> None:
        """Staff began preparing a confirmed order (order.preparing)."""
        self._fulfil(FulfilmentStatus.PREPARING, changed_by, at)

    def ship(self, *, changed_by: str, at: datetime) -> None:
        """The order left for its delivery address (order.shipped)."""
        self._fulfil(FulfilmentStatus.SHIPPED, changed_by, at)

    def deliver(self, *, changed_by: str, at: datetime) -> None:
        """The order reached its customer, the last step (order.delivered)."""
        self._fulfil(FulfilmentStatus.DELIVERED, changed_by, at)

    def advance_fulfilment(self, to: FulfilmentStatus, *, changed_by: str, at: datetime) -> None:
        """The step named ``to``: FulfilmentNotAllowed unless it is the next one."""
        steps = {
            FulfilmentStatus.PREPARING: self.start_preparing,
            FulfilmentStatus.SHIPPED: self.ship,
            FulfilmentStatus.DELIVERED: self.deliver,
        }
        step = steps.get(to)
        if step is None:  # NOT_STARTED: never the next step
            self._check_next(to)
        else:
            step(changed_by=changed_by, at=at)

    def _fulfil(self, to: FulfilmentStatus, changed_by: str, at: datetime) -> None:
        self._check_next(to)
        self.fulfilment = to
        self.fulfilment_updated_at = at
        self.events.append(
            _STEP_EVENTS[to](
                order_id=self.order_id,
                customer_id=self.customer_id,
                fulfilment_status=to.value,
                changed_by=changed_by,
            )
        )

    def _check_next(self, to: FulfilmentStatus) -> None:
        """FulfilmentNotAllowed unless the order is CONFIRMED and ``to`` its next step."""
        if self.status != OrderStatus.CONFIRMED:
            raise FulfilmentNotAllowed(
                f"order is {self.status.value}: only a CONFIRMED order is fulfilled"
            )
        expected = NEXT_FULFILMENT.get(self.fulfilment)
        if to != expected:
            after = f"the next step is {expected.value}" if expected else "it is finished"
            raise FulfilmentNotAllowed(
                f"fulfilment is {self.fulfilment.value}: {after}, not {to.value}"
            )
