"""The order timeline's wording: what each event means for the customer, and who said it."""

from __future__ import annotations

from typing import Any

STEPS = {
    "order.created": "order placed",
    "stock.reserved": "stock reserved",
    "stock.reservation_failed": "stock not available",
    "payment.awaiting": "waiting for the pix payment",
    "payment.authorized": "payment authorized",
    "payment.declined": "payment declined",
    "order.confirmed": "order confirmed",
    "order.cancelled": "order cancelled",
    "order.rejected": "order rejected",
    "stock.released": "stock released",
    "stock.committed": "stock committed",
    "payment.refunded": "payment refunded",
    "payment.voided": "payment voided",
    "order.preparing": "preparing the order",
    "order.shipped": "order shipped",
    "order.delivered": "order delivered",
}
SERVICES = {"order": "order_service", "stock": "product_service", "payment": "payment_service"}


def step(order_id: str, event_type: str, event_id: str | None) -> dict[str, Any]:
    """One timeline row for an event of the order's saga."""
    return {
        "order_id": order_id,
        "step": STEPS.get(event_type, event_type),
        "event_type": event_type,
        "service": SERVICES.get(event_type.split(".", 1)[0], "unknown"),
        "event_id": event_id,
    }
