"""Payments endpoints: each one call to views.py (payments change only through consumed events)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from payment_service import views
from payment_service.api.schemas import Payment
from servicekit.api import Limit
from servicekit.dependencies import CurrentUser, SessionDep

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
    found = views.list_payments(
        session, user, order_id=str(order_id) if order_id is not None else None, limit=limit
    )
    return [Payment.model_validate(payment) for payment in found]
