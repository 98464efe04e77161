"""Stock reservations in PostgreSQL, for the event handlers in application/handlers.py.

The saga's statements are plain SQL through ``servicekit.db.sql``: every order.created,
order.confirmed, order.cancelled and order.rejected runs them, and a Core statement costs about
twice their Python CPU (see servicekit/db.py). Each is written to need one round trip, whatever
the number of lines. Raw rows carry UUID columns as uuid.UUID (the dialect registers the type),
hence the ``::text`` casts, and NUMERIC as Decimal. The catalog (the HTTP API) stays on the Core
tables in tables.py.

Product rows are locked in product id order, the one order every writer uses, before any of them
is changed: concurrent orders over the same products queue up instead of deadlocking.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from product_service.domain.model import ReservationPlan, ReservationStatus, StockLevel
from servicekit.db import sql

# ORDER BY below FOR UPDATE: PostgreSQL locks rows as the sorted scan returns them (by the uuid
# p.product_id, not the text output column of that name). NO KEY UPDATE is the mode an UPDATE of
# non-key columns takes anyway; it conflicts with itself.
# NOT EXISTS is evaluated once, before any row is read: an order that already has a reservation
# locks nothing and gets no rows (nor does one whose products are all unknown; the caller asks).
_LOCK_STOCK_SQL = """
SELECT p.product_id::text, p.price, p.currency, p.stock_available
FROM products AS p
WHERE p.product_id = ANY(%(product_ids)s::uuid[])
  AND NOT EXISTS (SELECT FROM reservations WHERE order_id = %(order_id)s::uuid)
ORDER BY p.product_id
FOR NO KEY UPDATE
"""

_RESERVATION_EXISTS_SQL = "SELECT 1 FROM reservations WHERE order_id = %(order_id)s::uuid"

# available -> reserved on every line's product (rows locked already), the reservation and its
# lines: one statement. The lines' foreign key is checked at its end, when the reservation exists.
_RESERVE_SQL = """
WITH moved AS (
    UPDATE products AS p
    SET stock_available = p.stock_available - m.quantity,
        stock_reserved = p.stock_reserved + m.quantity,
        updated_at = now()
    FROM unnest(%(product_ids)s::uuid[], %(quantities)s::bigint[]) AS m (product_id, quantity)
    WHERE p.product_id = m.product_id
), reservation AS (
    INSERT INTO reservations (order_id, customer_id, status, currency, total, deadline_at)
    VALUES (%(order_id)s::uuid, %(customer_id)s, 'RESERVED', %(currency)s, %(total)s,
            %(deadline_at)s)
)
INSERT INTO reservation_lines (order_id, product_id, quantity, unit_price)
SELECT %(order_id)s::uuid, * FROM unnest(%(product_ids)s::uuid[], %(quantities)s::bigint[],
                                         %(unit_prices)s::numeric[])
"""

_INSERT_FAILED_SQL = """
INSERT INTO reservations (order_id, customer_id, status, currency, deadline_at, failure_reason)
VALUES (%(order_id)s::uuid, %(customer_id)s, 'FAILED', %(currency)s, %(deadline_at)s, %(reason)s)
"""

# The reservation with its status; when it is RESERVED, also its lines, their products' rows
# locked in product id order (one row per line). Only handlers holding the order's advisory lock
# (lock_aggregate) touch a reservation row, so locking it after the products cannot deadlock.
_LOCK_RESERVATION_SQL = """
SELECT r.status, l.product_id::text, l.quantity
FROM reservations AS r
LEFT JOIN LATERAL (
    SELECT rl.product_id, rl.quantity
    FROM reservation_lines AS rl JOIN products AS p ON p.product_id = rl.product_id
    WHERE rl.order_id = r.order_id AND r.status = 'RESERVED'
    ORDER BY rl.product_id
    FOR NO KEY UPDATE OF p
) AS l ON true
WHERE r.order_id = %(order_id)s::uuid
ORDER BY l.product_id
FOR UPDATE OF r
"""

# reserved -> sold (commit) or reserved -> available (release) for every line, and the new
# status: one statement; the products' rows are locked already.
_SETTLE_SQL = """
WITH moved AS (
    UPDATE products AS p
    SET stock_reserved = p.stock_reserved - l.quantity,
        stock_available = p.stock_available + %(to_available)s * l.quantity,
        stock_sold = p.stock_sold + %(to_sold)s * l.quantity,
        updated_at = now()
    FROM reservation_lines AS l
    WHERE l.order_id = %(order_id)s::uuid AND p.product_id = l.product_id
)
UPDATE reservations SET status = %(status)s, updated_at = now()
WHERE order_id = %(order_id)s::uuid
"""


def lock_stock_unless_reserved(
    session: Session, order_id: str, product_ids: list[str]
) -> list[StockLevel] | None:
    """The stock of those of ``product_ids`` that exist (valid UUIDs only), their rows locked in
    product id order; None, with nothing locked, when the order already has a reservation."""
    if product_ids:
        rows = sql(session, _LOCK_STOCK_SQL, {"product_ids": product_ids, "order_id": order_id})
        levels = [
            StockLevel(product_id=pid, price=price, currency=currency, available=available)
            for pid, price, currency, available in rows
        ]
        if levels:
            return levels
    # No rows: the products are unknown, or the reservation exists.
    if sql(session, _RESERVATION_EXISTS_SQL, {"order_id": order_id}).first() is not None:
        return None
    return []


def add_reservation(
    session: Session,
    plan: ReservationPlan,
    *,
    order_id: str,
    customer_id: str,
    currency: str,
    deadline_at: datetime,
) -> None:
    """Move the plan's units from available to reserved and record the RESERVED reservation with
    its lines; the products' rows must be locked already."""
    sql(
        session,
        _RESERVE_SQL,
        {
            "order_id": order_id,
            "customer_id": customer_id,
            "currency": currency,
            "total": plan.total,
            "deadline_at": deadline_at,
            "product_ids": [line.product_id for line in plan.lines],
            "quantities": [line.quantity for line in plan.lines],
            "unit_prices": [line.unit_price for line in plan.lines],
        },
    )


def add_failed_reservation(
    session: Session,
    *,
    order_id: str,
    customer_id: str,
    currency: str,
    deadline_at: datetime,
    reason: str,
) -> None:
    """Record that nothing could be reserved for the order, and why."""
    sql(
        session,
        _INSERT_FAILED_SQL,
        {
            "order_id": order_id,
            "customer_id": customer_id,
            "currency": currency,
            "deadline_at": deadline_at,
            "reason": reason,
        },
    )


def lock_reservation(session: Session, order_id: str) -> tuple[str, list[tuple[str, int]]] | None:
    """The reservation's status, and if it is RESERVED its lines ``(product_id, quantity)`` in
    product id order with those products' rows locked; None when the order has none."""
    rows = sql(session, _LOCK_RESERVATION_SQL, {"order_id": order_id}).all()
    if not rows:
        return None
    lines = [(pid, quantity) for _, pid, quantity in rows if pid is not None]
    return rows[0][0], lines


def settle_reservation(session: Session, order_id: str, *, to: ReservationStatus) -> None:
    """A RESERVED reservation becomes COMMITTED (its units sold) or RELEASED (available again);
    its products' rows must be locked already (lock_reservation)."""
    committed = to is ReservationStatus.COMMITTED
    sql(
        session,
        _SETTLE_SQL,
        {
            "order_id": order_id,
            "status": to.value,
            "to_available": 0 if committed else 1,
            "to_sold": 1 if committed else 0,
        },
    )
