"""Payments endpoints."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from contracts.money import money_text
from payment_service.api.schemas import Payment
from payment_service.application import handlers
from servicekit.api import Limit
from servicekit.web import CurrentUser, SessionDep

router = APIRouter(prefix="/api/payments", tags=["payments"])


@router.get("")
def list_payments(
    user: CurrentUser,
    session: SessionDep,
    order_id: Annotated[uuid.UUID | None, Query()] = None,
    limit: Limit = 100,
) -> list[Payment]:
    """The caller's payments, newest first (every payment for an admin); a bare JSON list.

    Another customer's order simply yields an empty list: nothing tells whether it exists.
    """
    rows = handlers.list_payments(
        session,
        customer_id=None if user.is_admin else user.user_id,
        order_id=str(order_id) if order_id is not None else None,
        limit=limit,
    )
    return [
        Payment(
            payment_id=str(row["payment_id"]),
            order_id=str(row["order_id"]),
            amount=money_text(row["amount"]),
            currency=row["currency"],
            status=row["status"],
            reason=row["reason"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )
        for row in rows
    ]
