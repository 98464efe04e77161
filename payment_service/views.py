"""Reads of payments for the API, apart from the use cases (application/handlers.py): a
customer sees only their own payments, an admin every one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from contracts.money import money_text
from payment_service.adapters.tables import payments
from servicekit.tokens import Principal


def list_payments(
    session: Session, principal: Principal, *, order_id: str | None, limit: int
) -> list[dict[str, Any]]:
    """Payments newest first, optionally one order's; another customer's are not there."""
    query = select(payments).order_by(payments.c.created_at.desc(), payments.c.payment_id)
    if not principal.is_admin:
        query = query.where(payments.c.customer_id == principal.user_id)
    if order_id is not None:
        query = query.where(payments.c.order_id == order_id)
    return [
        {
            "payment_id": str(row["payment_id"]),
            "order_id": str(row["order_id"]),
            "amount": money_text(row["amount"]),
            "currency": row["currency"],
            "status": row["status"],
            "reason": row["reason"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "method": row["method"],
            "charge_id": str(row["charge_id"]) if row["charge_id"] is not None else None,
            "qr_code": row["qr_code"],
            "qr_code_png": row["qr_code_png"],
            "expires_at": row["expires_at"],
        }
        for row in session.execute(query.limit(limit)).mappings()
    ]
