"""Order use cases and saga event handlers: one function per command or consumed event.

Every handler that changes an order first takes the order's aggregate lock and row lock, applies
the event to the domain model, saves it, and writes what the model emitted to the outbox, all in
the caller's transaction (the inbox consumer's, or the command's own).
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from prometheus_client import Counter, Histogram
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
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
    StockReserved,
)
from contracts.money import MAX_AMOUNT, money_text
from order_service.adapters import repository
from order_service.adapters.tables import order_items, order_timeline, orders, products
from order_service.domain.model import (
    TERMINAL,
    InventoryStatus,
    Line,
    Order,
    OrderStatus,
    PaymentStatus,
)
from servicekit.logging import get_logger
from servicekit.messaging import add_event, lock_aggregate
from servicekit.messaging.envelope import Envelope
from servicekit.tokens import Principal

log = get_logger(__name__)

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

CENT = Decimal("0.01")

# Timeline wording: what each event means for the customer, and who said it.
STEPS = {
    "order.created": "order placed",
    "stock.reserved": "stock reserved",
    "stock.reservation_failed": "stock not available",
    "payment.authorized": "payment authorized",
    "payment.declined": "payment declined",
    "order.confirmed": "order confirmed",
    "order.cancelled": "order cancelled",
    "order.rejected": "order rejected",
    "stock.released": "stock released",
    "stock.committed": "stock committed",
    "payment.refunded": "payment refunded",
    "payment.voided": "payment voided",
}
SERVICES = {"order": "order_service", "stock": "product_service", "payment": "payment_service"}


@dataclass(frozen=True)
class OrderDeps:
    """What commands need besides a session."""

    saga_timeout: timedelta


class UnknownProducts(Exception):
    """422: these product ids are not in the catalog."""

    def __init__(self, product_ids: list[str]) -> None:
        super().__init__(f"unknown product(s): {', '.join(product_ids)}")
        self.product_ids = product_ids


class MixedCurrencies(Exception):
    """422: an order is paid in one currency."""


class TotalTooLarge(Exception):
    """422: the order's total is above the largest amount the platform stores."""


class IdempotencyConflict(Exception):
    """409: the Idempotency-Key was used for a different request."""


# -- persistence ---------------------------------------------------------------------------------


def _step(order_id: str, event_type: str, event_id: uuid.UUID | str | None) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "step": STEPS.get(event_type, event_type),
        "event_type": event_type,
        "service": SERVICES.get(event_type.split(".", 1)[0], "unknown"),
        "event_id": str(event_id) if event_id else None,
    }


def _payload(order: Order, event_type: str) -> BaseModel:
    reason = order.failure_reason or ""
    if event_type == "order.confirmed":
        return OrderConfirmed(
            order_id=order.order_id,
            customer_id=order.customer_id,
            items=[
                PricedLine(
                    product_id=line.product_id,
                    quantity=line.quantity,
                    unit_price=money_text(line.unit_price),
                )
                for line in order.lines
            ],
            total=money_text(order.total),
            currency=order.currency,
        )
    if event_type == "order.cancelled":
        return OrderCancelled(order_id=order.order_id, customer_id=order.customer_id, reason=reason)
    if event_type == "order.rejected":
        return OrderRejected(order_id=order.order_id, customer_id=order.customer_id, reason=reason)
    raise ValueError(f"the order model does not emit {event_type}")


def _emit(
    session: Session,
    order: Order,
    *,
    created_at: datetime | None,
    correlation_id: str | None,
    causation_id: str | None,
) -> list[dict[str, Any]]:
    """Write what the model emitted to the outbox; returns the timeline steps to record."""
    steps = []
    for event_type in order.emitted:
        event_id = add_event(
            session,
            aggregate_type="order",
            aggregate_id=order.order_id,
            event_type=event_type,
            payload=_payload(order, event_type),
            registry=CATALOG,
            correlation_id=correlation_id,
            causation_id=causation_id,
        )
        steps.append(_step(order.order_id, event_type, event_id))
        if order.status in TERMINAL:
            SAGA_OUTCOMES.labels(order.status.value).inc()
            if created_at is not None:
                SAGA_DURATION.labels(order.status.value).observe(
                    (datetime.now(UTC) - created_at).total_seconds()
                )
        if event_type == "order.cancelled" and order.inventory_status == InventoryStatus.RESERVED:
            SAGA_COMPENSATIONS.labels(order.failure_reason or "cancelled").inc()
    order.emitted.clear()
    return steps


def _apply(
    session: Session,
    deps: OrderDeps,
    order_id: str,
    envelope: Envelope | None,
    change: Callable[[Order], Any],
    *,
    correlation_id: str | None = None,
) -> Order | None:
    """Lock, load, change, save, emit: the one shape of every state change."""
    lock_aggregate(session, "order", order_id)
    loaded = repository.load_for_update(session, order_id)
    if loaded is None:
        log.warning(
            "order_unknown", order_id=order_id, event_type=envelope.event_type if envelope else None
        )
        return None
    order, created_at = loaded
    lines_before = list(order.lines)
    steps = [_step(order_id, envelope.event_type, envelope.event_id)] if envelope else []
    change(order)
    repository.save(session, order, prices_changed=order.lines != lines_before)
    steps += _emit(
        session,
        order,
        created_at=created_at,
        correlation_id=envelope.correlation_id if envelope else correlation_id,
        causation_id=str(envelope.event_id) if envelope else None,
    )
    repository.append_timeline(session, steps)
    return order


# -- commands --------------------------------------------------------------------------------------


def request_fingerprint(items: list[tuple[str, int]], delivery: dict[str, Any] | None) -> str:
    """Identifies a create request, to tell an Idempotency-Key retry from a reuse."""
    canonical = orjson.dumps(
        {"items": sorted(items), "delivery": delivery}, option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(canonical).hexdigest()


def find_by_idempotency_key(session: Session, customer_id: str, key: str) -> RowMapping | None:
    """The order an Idempotency-Key already created, if any."""
    return (
        session.execute(
            select(orders).where(
                orders.c.customer_id == customer_id, orders.c.idempotency_key == key
            )
        )
        .mappings()
        .first()
    )


def remember_product(session: Session, product: ProductCreated) -> None:
    """Upsert one catalog entry into the read model."""
    values = {
        "product_id": product.product_id,
        "sku": product.sku,
        "name": product.name,
        "price": Decimal(product.price),
        "currency": product.currency,
    }
    session.execute(
        pg_insert(products)
        .values(**values)
        .on_conflict_do_update(
            index_elements=["product_id"], set_={**values, "updated_at": func.now()}
        )
    )


def create_order(
    session: Session,
    deps: OrderDeps,
    *,
    customer_id: str,
    items: list[tuple[str, int]],
    idempotency_key: str | None,
    fingerprint: str,
    correlation_id: str | None,
) -> tuple[str, bool]:
    """Write a PENDING order and order.created together; returns (order_id, created)."""
    order_id = str(uuid.uuid4())
    with session.begin():
        lock_aggregate(session, "order", order_id)
        catalog = repository.known_products(session, (product_id for product_id, _ in items))
        missing = sorted({pid for pid, _ in items} - set(catalog))
        if missing:
            raise UnknownProducts(missing)
        currencies = {catalog[pid][1] for pid, _ in items}
        if len(currencies) != 1:
            raise MixedCurrencies(f"all items must share one currency, got {sorted(currencies)}")
        currency = currencies.pop()
        lines = [Line(pid, qty, catalog[pid][0]) for pid, qty in items]
        total = sum((line.unit_price * line.quantity for line in lines), Decimal("0.00"))
        if total > MAX_AMOUNT:
            raise TotalTooLarge(f"the order total {total} is above the maximum of {MAX_AMOUNT}")
        deadline = datetime.now(UTC) + deps.saga_timeout
        # A savepoint only when a concurrent retry with the same key can collide.
        guard = session.begin_nested() if idempotency_key else contextlib.nullcontext()
        try:
            with guard:
                repository.insert_order(
                    session,
                    {
                        "order_id": order_id,
                        "customer_id": customer_id,
                        "status": OrderStatus.PENDING.value,
                        "payment_status": PaymentStatus.PENDING.value,
                        "inventory_status": InventoryStatus.PENDING.value,
                        "currency": currency,
                        "total": total,
                        "idempotency_key": idempotency_key,
                        "request_hash": fingerprint,
                        "deadline_at": deadline,
                    },
                )
        except IntegrityError:
            # The same key raced in from a concurrent retry: answer with the order it made.
            existing = find_by_idempotency_key(session, customer_id, idempotency_key or "")
            if existing is None:
                raise
            if existing["request_hash"] != fingerprint:
                raise IdempotencyConflict() from None
            return str(existing["order_id"]), False
        repository.insert_items(session, order_id, lines)
        event_id = add_event(
            session,
            aggregate_type="order",
            aggregate_id=order_id,
            event_type="order.created",
            payload=OrderCreated(
                order_id=order_id,
                customer_id=customer_id,
                items=[OrderLine(product_id=pid, quantity=qty) for pid, qty in items],
                currency=currency,
                deadline_at=deadline,
            ),
            registry=CATALOG,
            correlation_id=correlation_id,
        )
        repository.append_timeline(session, [_step(order_id, "order.created", event_id)])
    log.info("order_created", order_id=order_id, lines=len(items), total=money_text(total))
    return order_id, True


def cancel_order(
    session: Session, deps: OrderDeps, *, order_id: str, correlation_id: str | None
) -> Order | None:
    """Customer cancellation (CannotCancel once confirmed or finished)."""
    with session.begin():
        return _apply(
            session,
            deps,
            order_id,
            None,
            lambda order: order.cancel(),
            correlation_id=correlation_id,
        )


def sweep_timeouts(
    session_factory: Callable[[], Session], deps: OrderDeps, limit: int = 100
) -> int:
    """Cancel every open saga past its deadline; safe to run on every instance at once."""
    with session_factory() as session, session.begin():
        due = (
            session.execute(
                select(orders.c.order_id)
                .where(
                    orders.c.status.in_(
                        [OrderStatus.PENDING.value, OrderStatus.STOCK_RESERVED.value]
                    ),
                    orders.c.deadline_at < func.now(),
                )
                .order_by(orders.c.deadline_at)
                .limit(limit)
            )
            .scalars()
            .all()
        )
    cancelled = 0
    for order_id in due:
        with session_factory() as session, session.begin():
            order = _apply(session, deps, str(order_id), None, lambda order: order.time_out())
            if order is not None and order.failure_reason == "saga timed out":
                cancelled += 1
    if cancelled:
        log.warning("sagas_timed_out", count=cancelled)
    return cancelled


# -- queries --------------------------------------------------------------------------------------


def _visible(principal: Principal) -> Any:
    return None if principal.is_admin else orders.c.customer_id == principal.user_id


def get_order(session: Session, order_id: str, principal: Principal) -> dict[str, Any] | None:
    """An order with items, or None when it does not exist or is someone else's."""
    query = select(orders).where(orders.c.order_id == order_id)
    if (owner := _visible(principal)) is not None:
        query = query.where(owner)
    row = session.execute(query).mappings().first()
    if row is None:
        return None
    items = (
        session.execute(
            select(order_items)
            .where(order_items.c.order_id == order_id)
            .order_by(order_items.c.product_id)
        )
        .mappings()
        .all()
    )
    return _order_view(row, list(items))


def _order_view(row: RowMapping, items: list[RowMapping]) -> dict[str, Any]:
    return {
        "order_id": str(row["order_id"]),
        "customer_id": str(row["customer_id"]),
        "status": row["status"],
        "items": [
            {
                "product_id": str(i["product_id"]),
                "quantity": i["quantity"],
                "unit_price": money_text(i["unit_price"]),
            }
            for i in items
        ],
        "total": money_text(row["total"]),
        "currency": row["currency"],
        "payment": {"status": row["payment_status"]},
        "inventory": {"status": row["inventory_status"]},
        "failure_reason": row["failure_reason"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def list_orders(
    session: Session, principal: Principal, *, status: str | None, page: int, size: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of orders, newest first."""
    conditions = []
    if (owner := _visible(principal)) is not None:
        conditions.append(owner)
    if status is not None:
        conditions.append(orders.c.status == status)
    total = session.execute(
        select(func.count()).select_from(orders).where(*conditions)
    ).scalar_one()
    rows = (
        session.execute(
            select(orders)
            .where(*conditions)
            .order_by(orders.c.created_at.desc(), orders.c.order_id)
            .offset((page - 1) * size)
            .limit(size)
        )
        .mappings()
        .all()
    )
    ids = [row["order_id"] for row in rows]
    items: dict[str, list[RowMapping]] = {str(i): [] for i in ids}
    for item in session.execute(
        select(order_items)
        .where(order_items.c.order_id.in_(ids))
        .order_by(order_items.c.product_id)
    ).mappings():
        items[str(item["order_id"])].append(item)
    return [_order_view(row, items[str(row["order_id"])]) for row in rows], int(total)


def timeline(session: Session, order_id: str, principal: Principal) -> list[dict[str, Any]] | None:
    """The saga steps of an order, oldest first; None when not visible."""
    query = select(orders.c.order_id).where(orders.c.order_id == order_id)
    if (owner := _visible(principal)) is not None:
        query = query.where(owner)
    if session.execute(query).first() is None:
        return None
    rows = session.execute(
        select(order_timeline)
        .where(order_timeline.c.order_id == order_id)
        .order_by(order_timeline.c.id)
    ).mappings()
    return [
        {"step": r["step"], "event_type": r["event_type"], "service": r["service"], "at": r["at"]}
        for r in rows
    ]


# -- consumed events ------------------------------------------------------------------------------


def event_handlers(deps: OrderDeps) -> dict[str, Callable[[Session, Envelope], None]]:
    """event_type -> handler, for the inbox consumer."""

    def on(change: Callable[[Order, Any], Any]) -> Callable[[Session, Envelope], None]:
        def handle(session: Session, envelope: Envelope) -> None:
            event = CATALOG.parse(envelope)
            _apply(
                session,
                deps,
                str(event.order_id),  # type: ignore[attr-defined]
                envelope,
                lambda order: change(order, event),
            )

        return handle

    def priced(event: StockReserved) -> list[Line]:
        return [
            Line(i.product_id, i.quantity, Decimal(i.unit_price))
            for i in sorted(event.items, key=lambda i: i.product_id)
        ]

    def on_product(session: Session, envelope: Envelope) -> None:
        event = CATALOG.parse(envelope)
        assert isinstance(event, BaseModel)
        remember_product(session, ProductCreated.model_validate(event.model_dump()))

    return {
        "product.created": on_product,
        "product.updated": on_product,
        "stock.reserved": on(lambda order, e: order.stock_reserved(priced(e))),
        "stock.reservation_failed": on(lambda order, e: order.stock_reservation_failed(e.reason)),
        "stock.released": on(lambda order, _: order.stock_released()),
        "stock.committed": on(lambda order, _: order.stock_committed()),
        "payment.authorized": on(lambda order, _: order.payment_authorized()),
        "payment.declined": on(lambda order, e: order.payment_declined(e.reason)),
        "payment.refunded": on(lambda order, _: order.payment_refunded()),
        "payment.voided": on(lambda order, _: order.payment_voided()),
    }
