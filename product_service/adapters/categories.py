"""Categories in PostgreSQL: the repository behind ``Categories`` (application/ports.py), in the
unit of work of adapters/repository.py.

Products reference their category (a foreign key); a product joining a category holds the
category's row in KEY SHARE mode until it commits (adapters/repository.py), and a category is
loaded for change FOR UPDATE, which conflicts with it: a deletion and a product joining the
category never interleave, whichever comes first, so the deletion's count of the products in it
is the truth at its commit (a joining product that came first is counted: 409; one that comes
later finds no category: 422).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from product_service.domain.category import Category
from product_service.domain.errors import SlugTaken
from servicekit.db import sql

if TYPE_CHECKING:
    from product_service.adapters.repository import SqlProductUnitOfWork

# The only unique key a new random id can hit is the slug: no row back means the slug is taken
# (a concurrent insert of the same slug waits for the first to end, then does nothing).
_INSERT_CATEGORY = """
INSERT INTO categories (category_id, name, slug, description)
VALUES (%(category_id)s::uuid, %(name)s, %(slug)s, %(description)s)
ON CONFLICT DO NOTHING
RETURNING 1
"""

_LOAD_CATEGORY_FOR_UPDATE = """
SELECT name, slug, description FROM categories WHERE category_id = %(category_id)s::uuid
FOR UPDATE
"""

_PRODUCTS_IN = "SELECT count(*) FROM products WHERE category_id = %(category_id)s::uuid"

_SAVE_CATEGORY = """
UPDATE categories SET name = %(name)s, description = %(description)s, updated_at = now()
WHERE category_id = %(category_id)s::uuid
"""

_DELETE_CATEGORY = "DELETE FROM categories WHERE category_id = %(category_id)s::uuid"


class SqlCategories:
    """Categories in PostgreSQL; every category loaded for change or added is tracked by the
    unit of work, which publishes the events it recorded."""

    def __init__(self, uow: SqlProductUnitOfWork) -> None:
        self._uow = uow
        self._session = uow.session

    def add(self, category: Category) -> None:
        """See Categories.add."""
        self._uow.lock(Category.aggregate_type, category.category_id)
        inserted = sql(
            self._session,
            _INSERT_CATEGORY,
            {
                "category_id": category.category_id,
                "name": category.name,
                "slug": category.slug,
                "description": category.description,
            },
        ).first()
        if inserted is None:
            raise SlugTaken(category.slug)
        self._uow.track(category)

    def get_for_update(self, category_id: str) -> Category | None:
        """See Categories.get_for_update."""
        self._uow.lock(Category.aggregate_type, category_id)
        row = sql(self._session, _LOAD_CATEGORY_FOR_UPDATE, {"category_id": category_id}).first()
        if row is None:
            return None
        name, slug, description = tuple(row)
        category = Category(category_id, name, slug, description)
        self._uow.track(category)
        return category

    def products_in(self, category_id: str) -> int:
        """See Categories.products_in."""
        return int(sql(self._session, _PRODUCTS_IN, {"category_id": category_id}).scalar_one())

    def save(self, category: Category) -> None:
        """See Categories.save."""
        sql(
            self._session,
            _SAVE_CATEGORY,
            {
                "category_id": category.category_id,
                "name": category.name,
                "description": category.description,
            },
        )

    def remove(self, category: Category) -> None:
        """See Categories.remove."""
        sql(self._session, _DELETE_CATEGORY, {"category_id": category.category_id})
