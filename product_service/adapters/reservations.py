"""Stock reservations in PostgreSQL: the repository behind ``Reservations`` (application/
ports.py), in the unit of work of adapters/repository.py.

These statements run for every order.created, order.confirmed, order.cancelled and
order.rejected: plain SQL through ``servicekit.db.sql`` (a Core statement costs about twice their
Python CPU, see servicekit/db.py), each written to need one round trip whatever the number of
lines. Raw rows carry UUID columns as uuid.UUID (the dialect registers the type), hence the
``::text`` casts, and NUMERIC as Decimal.

Product rows are locked in product id order, the one order every writer uses, before any of them
is changed: concurrent orders over the same products queue up instead of deadlocking.
"""

from __future__ import annotations

from product_service.domain.reservation import (
    Reservation,
    ReservationStatus,
    ReservedLine,
    StockLevel,
)
from servicekit.db import sql, sql_later
from servicekit.messaging.unit_of_work import SqlUnitOfWork

# ORDER BY below FOR UPDATE: PostgreSQL locks rows as the sorted scan returns them (by the uuid
# p.product_id, not the text output column of that name). NO KEY UPDATE is the mode an UPDATE of
# non-key columns takes anyway; it conflicts with itself.
# NOT EXISTS is evaluated once, before any row is read: an order that already has a reservation
# locks nothing and gets no rows (nor does one whose products are all unknown; the caller asks).
_LOCK_STOCK = """
SELECT p.product_id::text, p.price, p.currency, p.stock_available, p.archived_at IS NOT NULL
FROM products AS p
WHERE p.product_id = ANY(%(product_ids)s::uuid[])
  AND NOT EXISTS (SELECT FROM reservations WHERE order_id = %(order_id)s::uuid)
ORDER BY p.product_id
FOR NO KEY UPDATE
"""

_RESERVATION_EXISTS = "SELECT 1 FROM reservations WHERE order_id = %(order_id)s::uuid"

# available -> reserved on every line's product (rows locked already), the reservation and its
# lines: one statement. The lines' foreign key is checked at its end, when the reservation exists.
_RESERVE = """
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

# A reservation that holds nothing: FAILED (order.created refused) or VOIDED (the order ended
# before its order.created arrived; no currency or deadline then).
_INSERT_UNHELD = """
INSERT INTO reservations (order_id, customer_id, status, currency, deadline_at, failure_reason)
VALUES (%(order_id)s::uuid, %(customer_id)s, %(status)s, %(currency)s, %(deadline_at)s,
        %(reason)s)
"""

# The reservation, one row per line; while it is RESERVED, its lines with their products' rows
# locked in product id order (a reservation holding nothing gets one row without a line). Only
# handlers holding the order's advisory lock (uow.lock) touch a reservation row, so locking it
# after the products cannot deadlock.
_LOCK_RESERVATION = """
SELECT r.status, r.customer_id, r.currency, r.deadline_at, r.total, r.failure_reason,
       l.product_id::text, l.quantity, l.unit_price
FROM reservations AS r
LEFT JOIN LATERAL (
    SELECT rl.product_id, rl.quantity, rl.unit_price
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
_SETTLE = """
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


class SqlReservations:
    """Reservations in PostgreSQL, and the stock counters they move."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        self._session = uow.session

    def stock_to_reserve(self, order_id: str, product_ids: list[str]) -> list[StockLevel] | None:
        """See Reservations.stock_to_reserve (``product_ids``: valid UUIDs only)."""
        self._uow.lock(Reservation.aggregate_type, order_id)
        if product_ids:
            rows = sql(
                self._session, _LOCK_STOCK, {"product_ids": product_ids, "order_id": order_id}
            )
            levels = [
                StockLevel(pid, price, currency, available, archived)
                for pid, price, currency, available, archived in rows
            ]
            if levels:
                return levels
        # No rows: the products are unknown, or the reservation exists.
        if sql(self._session, _RESERVATION_EXISTS, {"order_id": order_id}).first() is not None:
            return None
        return []

    def add(self, reservation: Reservation) -> None:
        """See Reservations.add."""
        self._uow.lock(Reservation.aggregate_type, reservation.order_id)
        if reservation.held:
            sql_later(
                self._session,
                _RESERVE,
                {
                    "order_id": reservation.order_id,
                    "customer_id": reservation.customer_id,
                    "currency": reservation.currency,
                    "total": reservation.total,
                    "deadline_at": reservation.deadline_at,
                    "product_ids": [line.product_id for line in reservation.lines],
                    "quantities": [line.quantity for line in reservation.lines],
                    "unit_prices": [line.unit_price for line in reservation.lines],
                },
            )
        else:
            sql_later(
                self._session,
                _INSERT_UNHELD,
                {
                    "order_id": reservation.order_id,
                    "status": reservation.status.value,
                    "customer_id": reservation.customer_id,
                    "currency": reservation.currency,
                    "deadline_at": reservation.deadline_at,
                    "reason": reservation.failure_reason,
                },
            )
        self._uow.track(reservation)

    def get_for_update(self, order_id: str) -> Reservation | None:
        """See Reservations.get_for_update."""
        self._uow.lock(Reservation.aggregate_type, order_id)
        rows = sql(self._session, _LOCK_RESERVATION, {"order_id": order_id}).all()
        if not rows:
            return None
        status, customer_id, currency, deadline_at, total, reason = tuple(rows[0])[:6]
        reservation = Reservation(
            order_id=order_id,
            customer_id=customer_id,
            currency=currency,
            deadline_at=deadline_at,
            status=ReservationStatus(status),
            lines=tuple(
                ReservedLine(pid, quantity, unit_price)
                for *_, pid, quantity, unit_price in rows
                if pid is not None
            ),
            total=total,
            failure_reason=reason,
        )
        self._uow.track(reservation)
        return reservation

    def save(self, reservation: Reservation) -> None:
        """See Reservations.save."""
        if reservation.status not in (ReservationStatus.COMMITTED, ReservationStatus.RELEASED):
            raise ValueError(f"a {reservation.status} reservation is not a settled one")
        committed = reservation.status == ReservationStatus.COMMITTED
        sql_later(
            self._session,
            _SETTLE,
            {
                "order_id": reservation.order_id,
                "status": reservation.status.value,
                "to_available": 0 if committed else 1,
                "to_sold": 1 if committed else 0,
            },
        )
