"""Reads of orders for the API: an order, a page of orders, an order's timeline, and the
orders a live status stream sends. Queries only, apart from the use cases (commands.py,
handlers.py); a customer sees only their own orders (someone else's is not found), staff and
admins see every order."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contracts.money import money_text
from order_service.adapters.tables import order_items, order_timeline, orders
from order_service.domain.statuses import FulfilmentStatus, OrderStatus, is_final
from servicekit.db import sql
from servicekit.tokens import Principal

# Each order with its lines, in one statement (one round trip for any number of orders).
_ORDERS_BY_ID = """
SELECT o.order_id::text, o.customer_id::text, o.status, o.payment_status, o.inventory_status,
       o.currency, o.total, o.failure_reason, o.created_at, o.updated_at, o.delivery_address,
       o.payment_method, o.correlation_id, o.fulfilment_status, o.fulfilment_updated_at,
       o.version,
       (SELECT json_agg(json_build_array(i.product_id::text, i.quantity, i.unit_price::text)
                        ORDER BY i.product_id)
          FROM order_items i WHERE i.order_id = o.order_id) AS items
FROM orders o
WHERE o.order_id = ANY(%(ids)s::uuid[])
"""


@dataclass(frozen=True, slots=True)
class OrderRead:
    """An order as GET /api/orders/{order_id} shows it, and the version of the row it was read
    from (one more on every write)."""

    view: dict[str, Any]
    version: int

    @property
    def final(self) -> bool:
        """True once nothing more can happen to the order (rejected, cancelled, delivered)."""
        return is_final(
            OrderStatus(self.view["status"]), FulfilmentStatus(self.view["fulfilment"]["status"])
        )


def _visible(principal: Principal) -> Any:
    return None if principal.is_staff else orders.c.customer_id == principal.user_id


def orders_by_id(session: Session, order_ids: list[str]) -> dict[str, OrderRead]:
    """Each of these orders that exists, whoever's it is (callers check visibility)."""
    rows = sql(session, _ORDERS_BY_ID, {"ids": order_ids}).mappings()
    return {
        row["order_id"]: OrderRead(
            _order_view(row, [(pid, qty, Decimal(price)) for pid, qty, price in row["items"]]),
            int(row["version"]),
        )
        for row in rows
    }


def get_order(session: Session, order_id: str, principal: Principal) -> dict[str, Any] | None:
    """An order with items, or None when it does not exist or is someone else's."""
    read = read_order(session, order_id, principal)
    return read.view if read is not None else None


def read_order(session: Session, order_id: str, principal: Principal) -> OrderRead | None:
    """An order and its version, or None when it does not exist or is someone else's."""
    read = orders_by_id(session, [order_id]).get(order_id)
    if read is None or not (principal.is_staff or read.view["customer_id"] == principal.user_id):
        return None
    return read


def _order_view(row: Any, items: list[tuple[str, int, Decimal]]) -> dict[str, Any]:
    return {
        "order_id": str(row["order_id"]),
        "customer_id": str(row["customer_id"]),
        "status": row["status"],
        "items": [
            {"product_id": str(product_id), "quantity": quantity, "unit_price": money_text(price)}
            for product_id, quantity, price in items
        ],
        "total": money_text(row["total"]),
        "currency": row["currency"],
        "payment": {"status": row["payment_status"]},
        "inventory": {"status": row["inventory_status"]},
        "failure_reason": row["failure_reason"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "delivery_address": row["delivery_address"],
        "payment_method": row["payment_method"],
        "correlation_id": row["correlation_id"],
        "fulfilment": {
            "status": row["fulfilment_status"],
            "updated_at": row["fulfilment_updated_at"],
        },
    }


def list_orders(
    session: Session,
    principal: Principal,
    *,
    status: str | None,
    page: int,
    size: int,
    fulfilment: str | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """A page of orders, newest first, optionally of one status and one fulfilment status."""
    conditions = []
    if (owner := _visible(principal)) is not None:
        conditions.append(owner)
    if status is not None:
        conditions.append(orders.c.status == status)
    if fulfilment is not None:
        conditions.append(orders.c.fulfilment_status == fulfilment)
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
    items: dict[str, list[tuple[str, int, Decimal]]] = {str(i): [] for i in ids}
    for item in session.execute(
        select(order_items)
        .where(order_items.c.order_id.in_(ids))
        .order_by(order_items.c.product_id)
    ).mappings():
        items[str(item["order_id"])].append(
            (str(item["product_id"]), item["quantity"], item["unit_price"])
        )
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
