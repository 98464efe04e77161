"""The SQL side of the order use cases: the repositories behind application/ports.py and the
unit of work that holds them.

The saga's statements are hand-written SQL (see ``servicekit.db.sql`` for why not Core): the
order row is locked and read with its lines in one statement, the unit prices of all lines change
in one, every timeline step of a unit of work goes in one. Writes whose result nobody reads are
queued (``sql_later``) and travel with the next statement or the commit, in one round trip.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from contracts.events import Address
from order_service.adapters.read_models import SqlCatalog, SqlCategories
from order_service.application.ports import DuplicateIdempotencyKey, IdempotentOrder
from order_service.application.timeline import step
from order_service.domain.model import Line, Order
from order_service.domain.statuses import (
    FulfilmentStatus,
    InventoryStatus,
    OrderStatus,
    PaymentMethod,
    PaymentStatus,
)
from servicekit.db import sql, sql_later
from servicekit.messaging.unit_of_work import Cause, Published, SqlUnitOfWork

_LOAD_FOR_UPDATE = """
SELECT o.customer_id::text, o.status, o.payment_status, o.inventory_status, o.currency,
       o.failure_reason, o.created_at, o.delivery_address, o.payment_method, o.correlation_id,
       o.fulfilment_status, o.fulfilment_updated_at,
       (SELECT json_agg(json_build_array(i.product_id, i.quantity, i.unit_price::text)
                        ORDER BY i.product_id)
          FROM order_items i WHERE i.order_id = o.order_id) AS lines
FROM orders o
WHERE o.order_id = %(order_id)s::uuid
FOR UPDATE OF o
"""

# updated_at is the time of the write (clock_timestamp), not of the transaction's start (now()):
# the closest the row can say to when its change committed, which live status streams report.
_SAVE = """
UPDATE orders
SET status = %(status)s, payment_status = %(payment_status)s,
    inventory_status = %(inventory_status)s, failure_reason = %(failure_reason)s,
    total = %(total)s, fulfilment_status = %(fulfilment_status)s,
    fulfilment_updated_at = %(fulfilment_updated_at)s, version = version + 1,
    updated_at = clock_timestamp()
WHERE order_id = %(order_id)s::uuid
"""

_SAVE_PRICES = """
UPDATE order_items i
SET unit_price = p.unit_price
FROM unnest(%(product_ids)s::uuid[], %(unit_prices)s::numeric[]) AS p(product_id, unit_price)
WHERE i.order_id = %(order_id)s::uuid AND i.product_id = p.product_id
"""

_INSERT_ORDER = """
INSERT INTO orders (order_id, customer_id, status, payment_status, inventory_status, currency,
                    total, idempotency_key, request_hash, deadline_at, delivery_address,
                    payment_method, correlation_id)
VALUES (%(order_id)s::uuid, %(customer_id)s::uuid, %(status)s, %(payment_status)s,
        %(inventory_status)s, %(currency)s, %(total)s, %(idempotency_key)s, %(request_hash)s,
        %(deadline_at)s, %(delivery_address)s::jsonb, %(payment_method)s, %(correlation_id)s)
"""

_INSERT_ITEMS = """
INSERT INTO order_items (order_id, product_id, quantity, unit_price)
SELECT %(order_id)s::uuid, * FROM unnest(%(product_ids)s::uuid[], %(quantities)s::int[],
                                         %(unit_prices)s::numeric[])
"""

_BY_IDEMPOTENCY_KEY = """
SELECT order_id::text, status, request_hash FROM orders
WHERE customer_id = %(customer_id)s::uuid AND idempotency_key = %(key)s
"""

_DUE_FOR_TIMEOUT = """
SELECT order_id::text FROM orders
WHERE status IN ('PENDING', 'STOCK_RESERVED') AND deadline_at < now()
ORDER BY deadline_at LIMIT %(limit)s
"""

_APPEND_TIMELINE = """
INSERT INTO order_timeline (order_id, step, event_type, service, event_id)
SELECT (s->>'order_id')::uuid, s->>'step', s->>'event_type', s->>'service',
       (s->>'event_id')::uuid
FROM jsonb_array_elements(%(steps)s::jsonb) AS s
"""


class SqlOrders:
    """Orders in PostgreSQL; every order loaded for change or added is tracked by the unit of
    work, which publishes the events it recorded."""

    def __init__(self, uow: SqlOrderUnitOfWork) -> None:
        self._uow = uow
        self._session = uow.session
        self._lines_before: dict[str, list[Line]] = {}

    def add(self, order: Order, *, idempotency_key: str | None, fingerprint: str) -> None:
        """See Orders.add."""
        self._uow.lock("order", order.order_id)
        values = {
            "order_id": order.order_id,
            "customer_id": order.customer_id,
            "status": order.status.value,
            "payment_status": order.payment_status.value,
            "inventory_status": order.inventory_status.value,
            "currency": order.currency,
            "total": order.total,
            "idempotency_key": idempotency_key,
            "request_hash": fingerprint,
            "deadline_at": order.deadline_at,
            "delivery_address": (
                order.delivery_address.model_dump_json() if order.delivery_address else None
            ),
            "payment_method": order.payment_method.value,
            "correlation_id": order.correlation_id,
        }
        if idempotency_key is None:
            sql_later(self._session, _INSERT_ORDER, values)
        else:
            # A savepoint only when a concurrent retry with the same key can collide.
            try:
                with self._session.begin_nested():
                    sql(self._session, _INSERT_ORDER, values)
            except IntegrityError:
                raise DuplicateIdempotencyKey(idempotency_key) from None
        sql_later(
            self._session,
            _INSERT_ITEMS,
            {
                "order_id": order.order_id,
                "product_ids": [line.product_id for line in order.lines],
                "quantities": [line.quantity for line in order.lines],
                "unit_prices": [line.unit_price for line in order.lines],
            },
        )
        self._uow.track(order)

    def get_for_update(self, order_id: str) -> Order | None:
        """See Orders.get_for_update."""
        self._uow.lock("order", order_id)
        row = sql(self._session, _LOAD_FOR_UPDATE, {"order_id": order_id}).first()
        if row is None:
            return None
        (
            customer_id,
            status,
            payment,
            inventory,
            currency,
            reason,
            created_at,
            address,
            method,
            correlation_id,
            fulfilment,
            fulfilment_at,
            lines,
        ) = tuple(row)
        order = Order(
            order_id=order_id,
            customer_id=customer_id,
            status=OrderStatus(status),
            payment_status=PaymentStatus(payment),
            inventory_status=InventoryStatus(inventory),
            lines=[Line(pid, qty, Decimal(price)) for pid, qty, price in lines or []],
            currency=currency,
            failure_reason=reason,
            placed_at=created_at,
            delivery_address=Address.model_validate(address) if address is not None else None,
            payment_method=PaymentMethod(method),
            correlation_id=correlation_id,
            fulfilment=FulfilmentStatus(fulfilment),
            fulfilment_updated_at=fulfilment_at,
        )
        self._lines_before[order_id] = list(order.lines)
        self._uow.track(order)
        return order

    def save(self, order: Order) -> None:
        """See Orders.save: the statuses, and the unit prices when they changed."""
        sql_later(
            self._session,
            _SAVE,
            {
                "order_id": order.order_id,
                "status": order.status.value,
                "payment_status": order.payment_status.value,
                "inventory_status": order.inventory_status.value,
                "failure_reason": order.failure_reason,
                "total": order.total,
                "fulfilment_status": order.fulfilment.value,
                "fulfilment_updated_at": order.fulfilment_updated_at,
            },
        )
        if order.lines != self._lines_before.get(order.order_id, order.lines):
            sql_later(
                self._session,
                _SAVE_PRICES,
                {
                    "order_id": order.order_id,
                    "product_ids": [line.product_id for line in order.lines],
                    "unit_prices": [line.unit_price for line in order.lines],
                },
            )
            self._lines_before[order.order_id] = list(order.lines)

    def by_idempotency_key(self, customer_id: str, key: str) -> IdempotentOrder | None:
        """See Orders.by_idempotency_key."""
        row = sql(
            self._session, _BY_IDEMPOTENCY_KEY, {"customer_id": customer_id, "key": key}
        ).first()
        return IdempotentOrder(row[0], row[1], row[2]) if row is not None else None

    def due_for_timeout(self, limit: int) -> list[str]:
        """See Orders.due_for_timeout."""
        return [row[0] for row in sql(self._session, _DUE_FOR_TIMEOUT, {"limit": limit})]


class SqlTimeline:
    """Saga steps, kept until the unit of work ends and then written in one statement."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._steps: list[dict[str, Any]] = []

    def record(self, order_id: str, event_type: str, event_id: str | None) -> None:
        """See Timeline.record."""
        self._steps.append(step(order_id, event_type, event_id))

    def write(self) -> None:
        """Every step recorded so far, in one statement."""
        if self._steps:
            sql_later(
                self._session, _APPEND_TIMELINE, {"steps": orjson.dumps(self._steps).decode()}
            )
            self._steps.clear()


class SqlOrderUnitOfWork(SqlUnitOfWork):
    """The order service's unit of work on PostgreSQL: the repositories share its session, and
    every event it publishes is a timeline step of its order."""

    def __init__(
        self, session: Session, *, owns_transaction: bool = True, cause: Cause | None = None
    ) -> None:
        super().__init__(session, owns_transaction=owns_transaction, cause=cause)
        self.orders = SqlOrders(self)
        self.catalog = SqlCatalog(session)
        self.categories = SqlCategories(session)
        self.timeline = SqlTimeline(session)

    @classmethod
    def joining(cls, session: Session, cause: Cause) -> SqlOrderUnitOfWork:
        """One that joins the inbox consumer's transaction (consumed events)."""
        return cls(session, owns_transaction=False, cause=cause)

    def after_write(self, published: list[Published]) -> None:
        """Each published order event is a step of its order's timeline."""
        for item in published:
            if item.event.aggregate_type == "order":
                self.timeline.record(
                    item.event.aggregate_id, item.event.event_type, str(item.event_id)
                )
        self.timeline.write()
