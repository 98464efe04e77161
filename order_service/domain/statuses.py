"""The states an order and its parts can be in, and which of them end something."""

from __future__ import annotations

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
    # A pix charge waits for the customer to pay it (payment.awaiting).
    AWAITING_PAYMENT = "AWAITING_PAYMENT"
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


class FulfilmentStatus(StrEnum):
    """How far staff have taken a confirmed order towards its customer."""

    NOT_STARTED = "NOT_STARTED"
    PREPARING = "PREPARING"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"


class PaymentMethod(StrEnum):
    """How the customer pays: an instant card authorization, or a pix QR code paid later
    through the payment provider."""

    CARD = "card"
    PIX = "pix"


OPEN = frozenset({OrderStatus.PENDING, OrderStatus.STOCK_RESERVED})
# Where the saga ends (fulfilment may follow a CONFIRMED one).
TERMINAL = frozenset({OrderStatus.CONFIRMED, OrderStatus.REJECTED, OrderStatus.CANCELLED})
# Forward only, one step at a time.
NEXT_FULFILMENT: dict[FulfilmentStatus, FulfilmentStatus] = {
    FulfilmentStatus.NOT_STARTED: FulfilmentStatus.PREPARING,
    FulfilmentStatus.PREPARING: FulfilmentStatus.SHIPPED,
    FulfilmentStatus.SHIPPED: FulfilmentStatus.DELIVERED,
}


def is_final(status: OrderStatus, fulfilment: FulfilmentStatus) -> bool:
    """True once nothing more can happen to the order: rejected, cancelled or delivered."""
    return status in (OrderStatus.REJECTED, OrderStatus.CANCELLED) or (
        fulfilment == FulfilmentStatus.DELIVERED
    )
