"""The read models of product_service's catalog in PostgreSQL: products (price, currency,
category, archive) and categories, fed by the catalog's events through the inbox."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from contracts.events import CategoryCreated, CategoryUpdated, ProductCreated, ProductUpdated
from order_service.application.ports import CatalogProduct, Category
from servicekit.db import sql

_PRODUCTS = """
SELECT product_id::text, price, currency, category_id::text, archived_at IS NOT NULL
FROM products WHERE product_id = ANY(%(ids)s::uuid[])
"""

# archived_at is left alone: an update never brings an archived product back.
_REMEMBER_PRODUCT = """
INSERT INTO products (product_id, sku, name, price, currency, category_id)
VALUES (%(product_id)s::uuid, %(sku)s, %(name)s, %(price)s, %(currency)s, %(category_id)s::uuid)
ON CONFLICT (product_id) DO UPDATE
SET sku = EXCLUDED.sku, name = EXCLUDED.name, price = EXCLUDED.price,
    currency = EXCLUDED.currency, category_id = EXCLUDED.category_id, updated_at = now()
"""

_ARCHIVE_PRODUCT = """
UPDATE products SET archived_at = coalesce(archived_at, %(archived_at)s), updated_at = now()
WHERE product_id = %(product_id)s::uuid
"""

_REMEMBER_CATEGORY = """
INSERT INTO categories (category_id, name, slug, description)
VALUES (%(category_id)s::uuid, %(name)s, %(slug)s, %(description)s)
ON CONFLICT (category_id) DO UPDATE
SET name = EXCLUDED.name, slug = EXCLUDED.slug, description = EXCLUDED.description,
    updated_at = now()
"""

_FORGET_CATEGORY = "DELETE FROM categories WHERE category_id = %(category_id)s::uuid"

_CATEGORY = """
SELECT category_id::text, name, slug, description FROM categories
WHERE category_id = %(category_id)s::uuid
"""


class SqlCatalog:
    """The catalog read model in PostgreSQL."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def products(self, product_ids: Iterable[str]) -> dict[str, CatalogProduct]:
        """See Catalog.products."""
        rows = sql(self._session, _PRODUCTS, {"ids": sorted(set(product_ids))})
        return {
            product_id: CatalogProduct(price, currency, category_id, archived)
            for product_id, price, currency, category_id, archived in rows
        }

    def remember(self, product: ProductCreated | ProductUpdated) -> None:
        """See Catalog.remember."""
        sql(
            self._session,
            _REMEMBER_PRODUCT,
            {
                "product_id": product.product_id,
                "sku": product.sku,
                "name": product.name,
                "price": Decimal(product.price),
                "currency": product.currency,
                "category_id": product.category_id,
            },
        )

    def archive(self, product_id: str, archived_at: datetime) -> bool:
        """See Catalog.archive."""
        result = sql(
            self._session,
            _ARCHIVE_PRODUCT,
            {"product_id": product_id, "archived_at": archived_at},
        )
        return bool(result.rowcount)


class SqlCategories:
    """The categories read model in PostgreSQL."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def remember(self, category: CategoryCreated | CategoryUpdated) -> None:
        """See Categories.remember."""
        sql(
            self._session,
            _REMEMBER_CATEGORY,
            {
                "category_id": category.category_id,
                "name": category.name,
                "slug": category.slug,
                "description": category.description,
            },
        )

    def forget(self, category_id: str) -> None:
        """See Categories.forget."""
        sql(self._session, _FORGET_CATEGORY, {"category_id": category_id})

    def get(self, category_id: str) -> Category | None:
        """See Categories.get."""
        row = sql(self._session, _CATEGORY, {"category_id": category_id}).first()
        return Category(*row) if row is not None else None
