"""Orders endpoints: validation here, state changes in application/handlers.py."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, HTTPException
from fastapi.responses import JSONResponse

from order_service.adapters.catalog import CatalogUnavailable, fetch_products
from order_service.api.schemas import (
    CreateOrderRequest,
    OrderAccepted,
    OrderPage,
    OrderView,
    TimelineStep,
)
from order_service.application import handlers
from order_service.application.handlers import (
    IdempotencyConflict,
    MixedCurrencies,
    OrderDeps,
    TotalTooLarge,
    UnknownProducts,
)
from order_service.domain.model import CannotCancel, OrderStatus
from servicekit.api import NO_NUL_PATTERN, PageNumber, PageSize, errors
from servicekit.web import CorrelationId, CurrentUser, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/orders", tags=["orders"])


async def get_deps(runtime: RuntimeDep) -> OrderDeps:
    """Order dependencies built at start-up."""
    deps: OrderDeps = runtime.extras["orders"]
    return deps


DepsDep = Annotated[OrderDeps, Depends(get_deps)]
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
    session: SessionDep,
    runtime: RuntimeDep,
    deps: DepsDep,
    correlation_id: CorrelationId,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Place an order: 202 PENDING; the saga takes it from there."""
    items = [(str(item.product_id), item.quantity) for item in body.items]
    delivery = body.delivery_address.model_dump() if body.delivery_address else None
    fingerprint = handlers.request_fingerprint(items, delivery)
    if idempotency_key:
        existing = handlers.find_by_idempotency_key(session, user.user_id, idempotency_key)
        session.rollback()
        if existing is not None:
            if existing["request_hash"] != fingerprint:
                raise HTTPException(409, "Idempotency-Key was already used for a different order")
            return JSONResponse(
                {"order_id": str(existing["order_id"]), "status": existing["status"]}, 200
            )

    def create() -> tuple[str, bool]:
        return handlers.create_order(
            session,
            deps,
            customer_id=user.user_id,
            items=items,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            correlation_id=correlation_id,
        )

    try:
        try:
            order_id, created = create()
        except UnknownProducts as exc:
            # Maybe just created and not yet in the read model: ask product_service, retry once.
            _learn_unknown_products(session, runtime, exc.product_ids)
            order_id, created = create()
    except UnknownProducts as exc:
        raise HTTPException(422, str(exc)) from None
    except (MixedCurrencies, TotalTooLarge) as exc:
        raise HTTPException(422, str(exc)) from None
    except IdempotencyConflict:
        raise HTTPException(409, "Idempotency-Key was already used for a different order") from None
    if not created:
        order = handlers.get_order(session, order_id, user)
        return JSONResponse({"order_id": order_id, "status": order["status"] if order else ""}, 200)
    return OrderAccepted(order_id=order_id, status=OrderStatus.PENDING.value)


def _learn_unknown_products(session: Any, runtime: Any, missing: list[str]) -> None:
    """Products created moments ago may not have reached the read model: ask product_service."""
    try:
        found = fetch_products(
            runtime.discovery,
            missing,
            timeout=runtime.settings.product_lookup_timeout_seconds,
        )
    except CatalogUnavailable as exc:
        raise HTTPException(503, f"cannot check the products right now: {exc}") from None
    with session.begin():
        for product in found.values():
            if product is not None:
                handlers.remember_product(session, product)


@router.get("")
def list_orders(
    user: CurrentUser,
    session: SessionDep,
    status: OrderStatus | None = None,
    page: PageNumber = 1,
    size: PageSize = 20,
) -> OrderPage:
    """The caller's orders (admin: all), newest first, optionally by status."""
    rows, total = handlers.list_orders(
        session, user, status=status.value if status else None, page=page, size=size
    )
    return OrderPage(
        items=[OrderView.model_validate(r) for r in rows], page=page, size=size, total=total
    )


@router.get("/{order_id}", responses=errors(404))
def get_order(order_id: UUID, user: CurrentUser, session: SessionDep) -> OrderView:
    """One order; another customer's order is 404."""
    order = handlers.get_order(session, str(order_id), user)
    if order is None:
        raise HTTPException(404, "order not found")
    return OrderView.model_validate(order)


@router.post("/{order_id}/cancel", status_code=202, responses=errors(404, 409))
def cancel_order(
    order_id: UUID,
    user: CurrentUser,
    session: SessionDep,
    deps: DepsDep,
    correlation_id: CorrelationId,
) -> OrderAccepted:
    """Cancel before CONFIRMED (409 after); compensation follows by events."""
    if handlers.get_order(session, str(order_id), user) is None:
        raise HTTPException(404, "order not found")
    session.rollback()
    try:
        order = handlers.cancel_order(
            session, deps, order_id=str(order_id), correlation_id=correlation_id
        )
    except CannotCancel as exc:
        raise HTTPException(409, str(exc)) from None
    assert order is not None
    return OrderAccepted(order_id=order.order_id, status=order.status.value)


@router.get("/{order_id}/timeline", responses=errors(404))
def order_timeline(order_id: UUID, user: CurrentUser, session: SessionDep) -> list[TimelineStep]:
    """Every saga step, oldest first."""
    steps = handlers.timeline(session, str(order_id), user)
    if steps is None:
        raise HTTPException(404, "order not found")
    return [TimelineStep.model_validate(step) for step in steps]
