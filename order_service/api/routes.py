"""Orders endpoints: each one call to the application (application/service.py for changes,
views.py for reads). Domain errors become statuses in api/errors.py. The live status streams
are in api/live.py."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, HTTPException
from fastapi.responses import JSONResponse

from contracts.events import Address
from order_service import views
from order_service.api.schemas import (
    CreateOrderRequest,
    FulfilmentRequest,
    OrderAccepted,
    OrderPage,
    OrderView,
    TimelineStep,
)
from order_service.application.service import OrderService
from order_service.domain.statuses import FulfilmentStatus, OrderStatus, PaymentMethod
from servicekit.api import NO_NUL_PATTERN, PageNumber, PageSize, errors
from servicekit.dependencies import CurrentUser, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/orders", tags=["orders"])

NOT_FOUND = "order not found"


async def get_orders(runtime: RuntimeDep) -> OrderService:
    """The order use cases, wired at start-up (main.py)."""
    service: OrderService = runtime.extras["orders"]
    return service


OrdersDep = Annotated[OrderService, Depends(get_orders)]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=NO_NUL_PATTERN),
]
_REPLAYED: dict[int | str, dict[str, Any]] = {
    200: {"model": OrderAccepted, "description": "The order this Idempotency-Key made before."}
}


@router.post("", status_code=202, responses={**_REPLAYED, **errors(409)})
def create_order(
    body: CreateOrderRequest,
    user: CurrentUser,
    orders: OrdersDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Place an order: 202 PENDING; the saga takes it from there. The same Idempotency-Key
    again: 200 with the order it made."""
    address = body.delivery_address
    placed = orders.place(
        customer_id=user.user_id,
        items=[(str(item.product_id), item.quantity) for item in body.items],
        delivery_address=Address(**address.model_dump()) if address else None,
        idempotency_key=idempotency_key,
        payment_method=PaymentMethod(body.payment_method),
    )
    accepted = OrderAccepted(order_id=placed.order_id, status=placed.status)
    if not placed.created:
        return JSONResponse(accepted.model_dump(), 200)
    return accepted


@router.get("")
def list_orders(
    user: CurrentUser,
    session: SessionDep,
    status: OrderStatus | None = None,
    fulfilment: FulfilmentStatus | None = None,
    page: PageNumber = 1,
    size: PageSize = 20,
) -> OrderPage:
    """The caller's orders (staff and admins: every order), newest first, optionally of one
    status and one fulfilment status."""
    rows, total = views.list_orders(
        session,
        user,
        status=status.value if status else None,
        fulfilment=fulfilment.value if fulfilment else None,
        page=page,
        size=size,
    )
    return OrderPage(
        items=[OrderView.model_validate(r) for r in rows], page=page, size=size, total=total
    )


@router.get("/{order_id}", responses=errors(404))
def get_order(order_id: UUID, user: CurrentUser, session: SessionDep) -> OrderView:
    """One order; another customer's order is 404."""
    order = views.get_order(session, str(order_id), user)
    if order is None:
        raise HTTPException(404, NOT_FOUND)
    return OrderView.model_validate(order)


@router.post("/{order_id}/cancel", status_code=202, responses=errors(404, 409))
def cancel_order(
    order_id: UUID, user: CurrentUser, session: SessionDep, orders: OrdersDep
) -> OrderAccepted:
    """Cancel before CONFIRMED (409 after); compensation follows by events."""
    if views.get_order(session, str(order_id), user) is None:
        raise HTTPException(404, NOT_FOUND)
    session.rollback()
    order = orders.cancel(str(order_id))
    if order is None:
        raise HTTPException(404, NOT_FOUND)
    return OrderAccepted(order_id=order.order_id, status=order.status.value)


@router.post("/{order_id}/fulfilment", responses=errors(403, 404, 409))
def advance_fulfilment(
    order_id: UUID,
    body: FulfilmentRequest,
    user: CurrentUser,
    session: SessionDep,
    orders: OrdersDep,
) -> OrderView:
    """Staff or admin: the next fulfilment step of a CONFIRMED order (PREPARING, SHIPPED, then
    DELIVERED); 409 for any other step, 403 for customers."""
    if orders.advance_fulfilment(str(order_id), body.status, user) is None:
        raise HTTPException(404, NOT_FOUND)
    order = views.get_order(session, str(order_id), user)
    if order is None:
        raise HTTPException(404, NOT_FOUND)
    return OrderView.model_validate(order)


@router.get("/{order_id}/timeline", responses=errors(404))
def order_timeline(order_id: UUID, user: CurrentUser, session: SessionDep) -> list[TimelineStep]:
    """Every saga step, oldest first."""
    steps = views.timeline(session, str(order_id), user)
    if steps is None:
        raise HTTPException(404, NOT_FOUND)
    return [TimelineStep.model_validate(step) for step in steps]
