"""Product use cases: one function per command or consumed event.

Commands (the HTTP API) open and commit their own transaction; event handlers run inside the
inbox consumer's transaction and never commit. Every transaction that emits events for an
aggregate takes its lock first (``lock_aggregate``), and product rows are always locked in
product id order, so concurrent orders over the same products queue up instead of deadlocking.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from contracts.events import (
    CATALOG,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderLine,
    OrderRejected,
    PricedLine,
    ProductCreated,
    ProductUpdated,
    StockCommitted,
    StockReleased,
    StockReservationFailed,
    StockReserved,
)
from contracts.money import money_text
from product_service.adapters import repository
from product_service.adapters.tables import products, stock_adjustments
from product_service.domain.errors import SkuTaken
from product_service.domain.model import (
    ReservationRefused,
    ReservationStatus,
    plan_reservation,
    requested_quantities,
)
from servicekit.logging import get_logger
from servicekit.messaging import add_event, lock_aggregate
from servicekit.messaging.envelope import Envelope

log = get_logger(__name__)

PRODUCT = "product"
STOCK_RESERVATION = "stock_reservation"

EventT = TypeVar("EventT", bound=BaseModel)


# -- catalog: queries --------------------------------------------------------------------------


def _catalog_event(
    session: Session,
    model: type[ProductCreated] | type[ProductUpdated],
    row: Any,
    correlation_id: str | None,
) -> None:
    """product.created / product.updated: the product as the order read model needs it."""
    event_type = "product.created" if model is ProductCreated else "product.updated"
    add_event(
        session,
        aggregate_type=PRODUCT,
        aggregate_id=str(row["product_id"]),
        event_type=event_type,
        payload=model(
            product_id=str(row["product_id"]),
            sku=row["sku"],
            name=row["name"],
            price=money_text(row["price"]),
            currency=row["currency"],
        ),
        registry=CATALOG,
        correlation_id=correlation_id,
    )


def get_product(session: Session, product_id: str) -> RowMapping | None:
    """One product, or None."""
    return (
        session.execute(select(products).where(products.c.product_id == product_id))
        .mappings()
        .first()
    )


def list_products(
    session: Session, *, q: str | None, page: int, size: int
) -> tuple[list[RowMapping], int]:
    """A page of products whose name or SKU contains ``q`` (case-insensitive), and the total."""
    condition = None
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        condition = or_(
            products.c.name.ilike(pattern, escape="\\"), products.c.sku.ilike(pattern, escape="\\")
        )
    count = select(func.count()).select_from(products)
    query = select(products).order_by(products.c.created_at, products.c.product_id)
    if condition is not None:
        count = count.where(condition)
        query = query.where(condition)
    total = session.execute(count).scalar_one()
    rows = session.execute(query.offset((page - 1) * size).limit(size)).mappings().all()
    return list(rows), int(total)


# -- catalog: commands -------------------------------------------------------------------------


def create_product(
    session: Session,
    *,
    sku: str,
    name: str,
    description: str | None,
    price: Decimal,
    currency: str,
    stock: int,
    correlation_id: str | None = None,
) -> RowMapping:
    """Add a product with its initial stock, and its product.created event, together."""
    product_id = str(uuid.uuid4())
    with session.begin():
        lock_aggregate(session, PRODUCT, product_id)
        row = (
            session.execute(
                pg_insert(products)
                .values(
                    product_id=product_id,
                    sku=sku,
                    name=name,
                    description=description,
                    price=price,
                    currency=currency,
                    stock_initial=stock,
                    stock_available=stock,
                )
                # The only unique key a new random id can hit is lower(sku).
                .on_conflict_do_nothing()
                .returning(*products.c)
            )
            .mappings()
            .first()
        )
        if row is None:
            raise SkuTaken(sku)
        _catalog_event(session, ProductCreated, row, correlation_id)
    log.info("product_created", product_id=product_id, sku=sku)
    return row


def update_product(
    session: Session,
    product_id: str,
    *,
    changes: Mapping[str, Any],
    actor: str,
    correlation_id: str | None = None,
) -> RowMapping | None:
    """Change name, description, price and/or the AVAILABLE stock; None for an unknown product.

    ``stock`` sets the quantity available for new orders; units held by reservations or sold are
    untouched, and the difference is recorded as an adjustment so that
    ``initial + adjusted = available + reserved + sold`` keeps holding.
    """
    with session.begin():
        lock_aggregate(session, PRODUCT, product_id)
        current = (
            session.execute(
                select(products).where(products.c.product_id == product_id).with_for_update()
            )
            .mappings()
            .first()
        )
        if current is None or not changes:
            return current
        values: dict[str, Any] = {
            key: changes[key] for key in ("name", "description", "price") if key in changes
        }
        if "stock" in changes:
            stock = int(changes["stock"])
            delta = stock - int(current["stock_available"])
            values["stock_available"] = stock
            values["stock_adjusted"] = products.c.stock_adjusted + delta
            session.execute(
                insert(stock_adjustments).values(
                    product_id=product_id,
                    delta=delta,
                    stock_available=stock,
                    adjusted_by=actor,
                    correlation_id=correlation_id,
                )
            )
        row = (
            session.execute(
                update(products)
                .where(products.c.product_id == product_id)
                .values(**values, updated_at=func.now())
                .returning(*products.c)
            )
            .mappings()
            .one()
        )
        _catalog_event(session, ProductUpdated, row, correlation_id)
    log.info("product_updated", product_id=product_id, fields=sorted(changes))
    return row


# -- stock: consumed events --------------------------------------------------------------------


def on_order_created(session: Session, envelope: Envelope) -> None:
    """Reserve every line of a new order, or none, and say which (stock.reserved / _failed)."""
    event = _parse(envelope, OrderCreated)
    order_id = str(uuid.UUID(event.order_id))  # not a UUID: poison, retried then dead-lettered
    lock_aggregate(session, STOCK_RESERVATION, event.order_id)
    requested = requested_quantities(
        (_canonical_id(line.product_id), line.quantity) for line in event.items
    )
    stock = repository.lock_stock_unless_reserved(
        session, order_id, [pid for pid in requested if _is_uuid(pid)]
    )
    if stock is None:
        log.info("reservation_exists", order_id=order_id)  # order.created emitted twice
        return
    try:
        plan = plan_reservation(
            requested, {level.product_id: level for level in stock}, currency=event.currency
        )
    except ReservationRefused as refused:
        _record_failure(session, envelope, event, order_id, reason=str(refused))
        return
    repository.add_reservation(
        session,
        plan,
        order_id=order_id,
        customer_id=event.customer_id,
        currency=event.currency,
        deadline_at=event.deadline_at,
    )
    add_event(
        session,
        aggregate_type=STOCK_RESERVATION,
        aggregate_id=event.order_id,
        event_type="stock.reserved",
        payload=StockReserved(
            order_id=event.order_id,
            customer_id=event.customer_id,
            items=[
                PricedLine(
                    product_id=line.product_id,
                    quantity=line.quantity,
                    unit_price=money_text(line.unit_price),
                )
                for line in plan.lines
            ],
            total=money_text(plan.total),
            currency=event.currency,
            deadline_at=event.deadline_at,
        ),
        registry=CATALOG,
        correlation_id=envelope.correlation_id,
        causation_id=str(envelope.event_id),
    )
    log.info("stock_reserved", order_id=order_id, lines=len(plan.lines), total=str(plan.total))


def on_order_confirmed(session: Session, envelope: Envelope) -> None:
    """The order is paid for: its reserved units become sold (stock.committed)."""
    event = _parse(envelope, OrderConfirmed)
    _settle(session, envelope, event.order_id, to=ReservationStatus.COMMITTED, reason="")


def on_order_cancelled(session: Session, envelope: Envelope) -> None:
    """Give the order's reserved units back (stock.released); nothing if none are held."""
    event = _parse(envelope, OrderCancelled)
    _settle(
        session,
        envelope,
        event.order_id,
        to=ReservationStatus.RELEASED,
        reason=f"order cancelled: {event.reason}",
    )


def on_order_rejected(session: Session, envelope: Envelope) -> None:
    """Give the order's reserved units back (stock.released); nothing if none are held."""
    event = _parse(envelope, OrderRejected)
    _settle(
        session,
        envelope,
        event.order_id,
        to=ReservationStatus.RELEASED,
        reason=f"order rejected: {event.reason}",
    )


# -- stock: internals --------------------------------------------------------------------------


def _parse(envelope: Envelope, model: type[EventT]) -> EventT:
    event = CATALOG.parse(envelope)
    assert isinstance(event, model), f"{envelope.event_type} parsed as {type(event).__name__}"
    return event


def _canonical_id(product_id: str) -> str:
    """The database's spelling of a product id; anything else is kept (and found unknown)."""
    try:
        return str(uuid.UUID(product_id))
    except ValueError:
        return product_id


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _record_failure(
    session: Session, envelope: Envelope, event: OrderCreated, order_id: str, *, reason: str
) -> None:
    repository.add_failed_reservation(
        session,
        order_id=order_id,
        customer_id=event.customer_id,
        currency=event.currency,
        deadline_at=event.deadline_at,
        reason=reason,
    )
    add_event(
        session,
        aggregate_type=STOCK_RESERVATION,
        aggregate_id=event.order_id,
        event_type="stock.reservation_failed",
        payload=StockReservationFailed(
            order_id=event.order_id, customer_id=event.customer_id, reason=reason
        ),
        registry=CATALOG,
        correlation_id=envelope.correlation_id,
        causation_id=str(envelope.event_id),
    )
    log.info("stock_reservation_failed", order_id=order_id, reason=reason)


def _settle(
    session: Session, envelope: Envelope, order_id: str, *, to: ReservationStatus, reason: str
) -> None:
    """RESERVED -> COMMITTED or RELEASED; any other state (or none) is left as it is."""
    if not _is_uuid(order_id):
        log.warning("reservation_unknown_order_id", order_id=order_id)
        return
    lock_aggregate(session, STOCK_RESERVATION, order_id)
    canonical_id = str(uuid.UUID(order_id))
    held = repository.lock_reservation(session, canonical_id)
    status, lines = held if held is not None else (None, [])
    if status != ReservationStatus.RESERVED:
        log.info(
            "reservation_not_held", order_id=order_id, event_type=envelope.event_type, status=status
        )
        return
    repository.settle_reservation(session, canonical_id, to=to)
    items = [OrderLine(product_id=pid, quantity=quantity) for pid, quantity in lines]
    payload: BaseModel
    if to is ReservationStatus.COMMITTED:
        event_type = "stock.committed"
        payload = StockCommitted(order_id=order_id, items=items)
    else:
        event_type = "stock.released"
        payload = StockReleased(order_id=order_id, items=items, reason=reason)
    add_event(
        session,
        aggregate_type=STOCK_RESERVATION,
        aggregate_id=order_id,
        event_type=event_type,
        payload=payload,
        registry=CATALOG,
        correlation_id=envelope.correlation_id,
        causation_id=str(envelope.event_id),
    )
    log.info(event_type.replace(".", "_"), order_id=order_id, lines=len(lines))
