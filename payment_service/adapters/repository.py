"""Payments in PostgreSQL, for the handlers in application/handlers.py.

The saga's statements are plain SQL through ``servicekit.db.sql``: they run once or twice per
consumed event, and a Core statement costs about twice their Python CPU (see servicekit/db.py).
Raw rows carry UUID columns as uuid.UUID (the dialect registers the type), ``amount`` as
Decimal. The caller's payments (the HTTP API) stay a Core query: it has optional filters and is
not on the saga's path.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Row, RowMapping
from sqlalchemy.orm import Session

from payment_service.adapters.tables import payments
from servicekit.db import sql

_FOR_UPDATE_SQL = (
    "SELECT payment_id, customer_id, amount, currency, status FROM payments"
    " WHERE order_id = %(order_id)s::uuid FOR UPDATE"
)
_INSERT_SQL = (
    "INSERT INTO payments (payment_id, order_id, customer_id, amount, currency, status, reason)"
    " VALUES (%(payment_id)s::uuid, %(order_id)s::uuid, %(customer_id)s::uuid, %(amount)s,"
    " %(currency)s, %(status)s, %(reason)s)"
)
_SET_STATUS_SQL = (
    "UPDATE payments SET status = %(status)s, reason = %(reason)s, updated_at = now()"
    " WHERE payment_id = %(payment_id)s::uuid"
)


def payment_for_update(session: Session, order_id: str) -> Row[Any] | None:
    """The order's payment (payment_id, customer_id, amount, currency, status), row-locked until
    commit; None when the order has none."""
    return sql(session, _FOR_UPDATE_SQL, {"order_id": order_id}).first()


def insert_payment(
    session: Session,
    *,
    payment_id: str,
    order_id: str,
    customer_id: str,
    amount: Decimal,
    currency: str,
    status: str,
    reason: str | None,
) -> None:
    """Add the order's one payment (``order_id`` is unique)."""
    sql(
        session,
        _INSERT_SQL,
        {
            "payment_id": payment_id,
            "order_id": order_id,
            "customer_id": customer_id,
            "amount": amount,
            "currency": currency,
            "status": str(status),
            "reason": reason,
        },
    )


def set_payment_status(session: Session, payment_id: str, *, status: str, reason: str) -> None:
    """Move a payment to ``status`` for ``reason``, stamping ``updated_at``."""
    sql(
        session,
        _SET_STATUS_SQL,
        {"payment_id": payment_id, "status": str(status), "reason": reason},
    )


def list_payments(
    session: Session, *, customer_id: str | None, order_id: str | None, limit: int
) -> list[RowMapping]:
    """Payments newest first, optionally only one customer's and/or one order's."""
    query = select(payments).order_by(payments.c.created_at.desc(), payments.c.payment_id)
    if customer_id is not None:
        query = query.where(payments.c.customer_id == customer_id)
    if order_id is not None:
        query = query.where(payments.c.order_id == order_id)
    return list(session.execute(query.limit(limit)).mappings().all())
