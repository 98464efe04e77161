"""The saga's hot statements, in plain SQL (see ``servicekit.db.sql`` for why not Core).

Every consumed event and every placed order runs these; the read-only API queries stay on the
Core tables in tables.py. Statements here are written to need one round trip each.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy.orm import Session

from order_service.domain.model import InventoryStatus, Line, Order, OrderStatus, PaymentStatus
from servicekit.db import sql

# The order row locked, with its lines (ordered by product) in the same round trip.
_LOAD_FOR_UPDATE = """
SELECT o.customer_id::text, o.status, o.payment_status, o.inventory_status, o.currency,
       o.failure_reason, o.created_at,
       (SELECT json_agg(json_build_array(i.product_id, i.quantity, i.unit_price::text)
                        ORDER BY i.product_id)
          FROM order_items i WHERE i.order_id = o.order_id) AS lines
FROM orders o
WHERE o.order_id = %(order_id)s::uuid
FOR UPDATE OF o
"""

_SAVE = """
UPDATE orders
SET status = %(status)s, payment_status = %(payment_status)s,
    inventory_status = %(inventory_status)s, failure_reason = %(failure_reason)s,
    total = %(total)s, updated_at = now()
WHERE order_id = %(order_id)s::uuid
"""

# Unit prices arrive with stock.reserved: all lines in one statement.
_SAVE_PRICES = """
UPDATE order_items i
SET unit_price = p.unit_price
FROM unnest(%(product_ids)s::uuid[], %(unit_prices)s::numeric[]) AS p(product_id, unit_price)
WHERE i.order_id = %(order_id)s::uuid AND i.product_id = p.product_id
"""

_APPEND_TIMELINE = """
INSERT INTO order_timeline (order_id, step, event_type, service, event_id)
SELECT (s->>'order_id')::uuid, s->>'step', s->>'event_type', s->>'service',
       (s->>'event_id')::uuid
FROM jsonb_array_elements(%(steps)s::jsonb) AS s
"""

_KNOWN_PRODUCTS = """
SELECT product_id::text, price, currency FROM products WHERE product_id = ANY(%(ids)s::uuid[])
"""

_INSERT_ORDER = """
INSERT INTO orders (order_id, customer_id, status, payment_status, inventory_status, currency,
                    total, idempotency_key, request_hash, deadline_at)
VALUES (%(order_id)s::uuid, %(customer_id)s::uuid, %(status)s, %(payment_status)s,
        %(inventory_status)s, %(currency)s, %(total)s, %(idempotency_key)s, %(request_hash)s,
        %(deadline_at)s)
"""

_INSERT_ITEMS = """
INSERT INTO order_items (order_id, product_id, quantity, unit_price)
SELECT %(order_id)s::uuid, * FROM unnest(%(product_ids)s::uuid[], %(quantities)s::int[],
                                         %(unit_prices)s::numeric[])
"""


def load_for_update(session: Session, order_id: str) -> tuple[Order, datetime] | None:
    """The order, row-locked until commit, and when it was placed; None if unknown."""
    row = sql(session, _LOAD_FOR_UPDATE, {"order_id": order_id}).first()
    if row is None:
        return None
    customer_id, status, payment, inventory, currency, reason, created_at, lines = tuple(row)
    order = Order(
        order_id=order_id,
        customer_id=customer_id,
        status=OrderStatus(status),
        payment_status=PaymentStatus(payment),
        inventory_status=InventoryStatus(inventory),
        lines=[Line(pid, qty, Decimal(price)) for pid, qty, price in lines or []],
        currency=currency,
        failure_reason=reason,
    )
    return order, created_at


def save(session: Session, order: Order, *, prices_changed: bool) -> None:
    """Write the order's statuses (and its lines' unit prices when they changed)."""
    sql(
        session,
        _SAVE,
        {
            "order_id": order.order_id,
            "status": order.status.value,
            "payment_status": order.payment_status.value,
            "inventory_status": order.inventory_status.value,
            "failure_reason": order.failure_reason,
            "total": order.total,
        },
    )
    if prices_changed:
        sql(
            session,
            _SAVE_PRICES,
            {
                "order_id": order.order_id,
                "product_ids": [line.product_id for line in order.lines],
                "unit_prices": [line.unit_price for line in order.lines],
            },
        )


def append_timeline(session: Session, steps: Sequence[Mapping[str, Any]]) -> None:
    """Append saga steps, in one statement."""
    if steps:
        sql(session, _APPEND_TIMELINE, {"steps": orjson.dumps(list(steps)).decode()})


def known_products(session: Session, product_ids: Iterable[str]) -> dict[str, tuple[Decimal, str]]:
    """(price, currency) of each product the read model knows, by id."""
    rows = sql(session, _KNOWN_PRODUCTS, {"ids": sorted(set(product_ids))})
    return {product_id: (price, currency) for product_id, price, currency in rows.tuples()}


def insert_order(session: Session, values: Mapping[str, Any]) -> None:
    """The new order row (columns as in _INSERT_ORDER)."""
    sql(session, _INSERT_ORDER, values)


def insert_items(session: Session, order_id: str, lines: Sequence[Line]) -> None:
    """All lines of a new order, in one statement."""
    sql(
        session,
        _INSERT_ITEMS,
        {
            "order_id": order_id,
            "product_ids": [line.product_id for line in lines],
            "quantities": [line.quantity for line in lines],
            "unit_prices": [line.unit_price for line in lines],
        },
    )
