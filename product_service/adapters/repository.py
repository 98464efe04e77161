"""The SQL side of the product use cases: the unit of work and the catalog's repository behind
application/ports.py (the categories' is in adapters/categories.py, the reservations' in
adapters/reservations.py).

Statements are plain SQL through ``servicekit.db.sql``, like the reservations', one round trip
each; a parameter compared with a uuid column is cast (``::uuid``) so that the prepared statement
knows its type. NUMERIC comes back as Decimal.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from product_service.adapters.categories import SqlCategories
from product_service.adapters.reservations import SqlReservations
from product_service.domain.errors import SkuTaken, UnknownCategory
from product_service.domain.product import Product, Stock
from servicekit.db import sql
from servicekit.messaging.unit_of_work import Cause, SqlUnitOfWork

# The only unique key a new random id can hit is lower(sku): no row back means the SKU is taken.
_INSERT_PRODUCT = """
INSERT INTO products (product_id, sku, name, description, price, currency, stock_initial,
                      stock_available, category_id)
VALUES (%(product_id)s::uuid, %(sku)s, %(name)s, %(description)s, %(price)s, %(currency)s,
        %(initial)s, %(available)s, %(category_id)s::uuid)
ON CONFLICT DO NOTHING
RETURNING 1
"""

_LOAD_PRODUCT_FOR_UPDATE = """
SELECT sku, name, description, price, currency, category_id::text, archived_at, stock_initial,
       stock_available, stock_adjusted, stock_reserved, stock_sold
FROM products WHERE product_id = %(product_id)s::uuid
FOR UPDATE
"""

# Orders move available, reserved and sold; an admin's change writes available and adjusted.
_SAVE_PRODUCT = """
UPDATE products
SET name = %(name)s, description = %(description)s, price = %(price)s,
    category_id = %(category_id)s::uuid, archived_at = %(archived_at)s,
    stock_available = %(available)s, stock_adjusted = %(adjusted)s, updated_at = now()
WHERE product_id = %(product_id)s::uuid
"""

# The product's category, kept from deletion until the end of the work (adapters/categories.py
# says how this and a deletion exclude each other); no row: the category does not exist.
_HOLD_CATEGORY = """
SELECT 1 FROM categories WHERE category_id = %(category_id)s::uuid FOR KEY SHARE
"""

_ADD_ADJUSTMENT = """
INSERT INTO stock_adjustments (product_id, delta, stock_available, adjusted_by, correlation_id)
VALUES (%(product_id)s::uuid, %(delta)s, %(available)s, %(adjusted_by)s, %(correlation_id)s)
"""


class SqlProducts:
    """Products in PostgreSQL; every product loaded for change or added is tracked by the unit
    of work, which publishes the events it recorded."""

    def __init__(self, uow: SqlProductUnitOfWork) -> None:
        self._uow = uow
        self._session = uow.session

    def add(self, product: Product) -> None:
        """See Products.add."""
        self._uow.lock(Product.aggregate_type, product.product_id)
        self._hold_category(product.category_id)
        inserted = sql(
            self._session,
            _INSERT_PRODUCT,
            {
                "product_id": product.product_id,
                "sku": product.sku,
                "name": product.name,
                "description": product.description,
                "price": product.price,
                "currency": product.currency,
                "initial": product.stock.initial,
                "available": product.stock.available,
                "category_id": product.category_id,
            },
        ).first()
        if inserted is None:
            raise SkuTaken(product.sku)
        self._uow.track(product)

    def get_for_update(self, product_id: str) -> Product | None:
        """See Products.get_for_update."""
        self._uow.lock(Product.aggregate_type, product_id)
        row = sql(self._session, _LOAD_PRODUCT_FOR_UPDATE, {"product_id": product_id}).first()
        if row is None:
            return None
        sku, name, description, price, currency, category_id, archived_at, *counters = tuple(row)
        initial, available, adjusted, reserved, sold = (int(value) for value in counters)
        product = Product(
            product_id=product_id,
            sku=sku,
            name=name,
            description=description,
            price=price,
            currency=currency,
            stock=Stock(initial, available, adjusted, reserved, sold),
            category_id=category_id,
            archived_at=archived_at,
        )
        self._uow.track(product)
        return product

    def save(self, product: Product) -> None:
        """See Products.save."""
        self._hold_category(product.category_id)
        for adjustment in product.adjustments:
            sql(
                self._session,
                _ADD_ADJUSTMENT,
                {
                    "product_id": product.product_id,
                    "delta": adjustment.delta,
                    "available": adjustment.available,
                    "adjusted_by": adjustment.adjusted_by,
                    "correlation_id": self._uow.cause.correlation_id,
                },
            )
        product.adjustments.clear()
        sql(
            self._session,
            _SAVE_PRODUCT,
            {
                "product_id": product.product_id,
                "name": product.name,
                "description": product.description,
                "price": product.price,
                "category_id": product.category_id,
                "archived_at": product.archived_at,
                "available": product.stock.available,
                "adjusted": product.stock.adjusted,
            },
        )

    def _hold_category(self, category_id: str | None) -> None:
        """UnknownCategory unless the category exists; then it stays until the end of the work."""
        if category_id is None:
            return
        if sql(self._session, _HOLD_CATEGORY, {"category_id": category_id}).first() is None:
            raise UnknownCategory(category_id)


class SqlProductUnitOfWork(SqlUnitOfWork):
    """The product service's unit of work on PostgreSQL: the repositories share its session."""

    def __init__(
        self, session: Session, *, owns_transaction: bool = True, cause: Cause | None = None
    ) -> None:
        super().__init__(session, owns_transaction=owns_transaction, cause=cause)
        self.products = SqlProducts(self)
        self.categories = SqlCategories(self)
        self.reservations = SqlReservations(self)

    @classmethod
    def joining(cls, session: Session, cause: Cause) -> SqlProductUnitOfWork:
        """One that joins the inbox consumer's transaction (consumed events)."""
        return cls(session, owns_transaction=False, cause=cause)
