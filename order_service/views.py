"""Reads of orders for the API: an order, a page of orders, an order's timeline. Queries only,
apart from the use cases (commands.py, handlers.py), and visible only to their owner or an
admin: someone else's order is not found."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from contracts.money import money_text
from order_service.adapters.tables import order_items, order_timeline, orders
from servicekit.tokens import Principal


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
