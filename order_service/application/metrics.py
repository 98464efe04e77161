"""The saga's metrics: how orders end, how long that takes, how often compensation runs; and
the fulfilment steps staff take."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import Counter, Histogram

from order_service.domain.model import Order
from order_service.domain.statuses import InventoryStatus, OrderStatus

SAGA_OUTCOMES = Counter("saga_outcomes_total", "Orders that reached a final status.", ["status"])
SAGA_DURATION = Histogram(
    "saga_duration_seconds",
    "Time from order placed to its final status.",
    ["status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
SAGA_COMPENSATIONS = Counter(
    "saga_compensations_total", "Orders cancelled after stock was reserved or paid.", ["reason"]
)

FULFILMENT_STEPS = Counter(
    "order_fulfilment_steps_total",
    "Fulfilment steps taken by staff, by the status reached.",
    ["status"],
)


def saga_finished(order: Order) -> None:
    """Count an order that just reached its final status."""
    status = order.status.value
    SAGA_OUTCOMES.labels(status).inc()
    if order.placed_at is not None:
        SAGA_DURATION.labels(status).observe((datetime.now(UTC) - order.placed_at).total_seconds())
    if order.status == OrderStatus.CANCELLED and order.inventory_status == InventoryStatus.RESERVED:
        SAGA_COMPENSATIONS.labels(order.failure_reason or "cancelled").inc()
