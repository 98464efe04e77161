"""Reads of the catalog for the API: one product, a page of products, the categories. Queries
only, apart from the use cases (application/commands.py, application/handlers.py); the catalog
is public, and archived products are no part of it."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from product_service.adapters.tables import categories, products

# Names sort as a reader expects ("açaí" beside "Acerola", not after "Zimbro"), whatever the
# database's own collation; ICU's root collation ships with PostgreSQL.
_NAME_ORDER = "und-x-icu"


def get_product(session: Session, product_id: str) -> RowMapping | None:
    """One product not archived, or None."""
    return (
        session.execute(
            select(products).where(
                products.c.product_id == product_id, products.c.archived_at.is_(None)
            )
        )
        .mappings()
        .first()
    )


def list_products(
    session: Session, *, q: str | None, category: str | None = None, page: int, size: int
) -> tuple[list[RowMapping], int]:
    """A page of the products not archived whose name or SKU contains ``q`` (case-insensitive)
    and, given a ``category`` slug, that are in that category (none for an unknown slug), oldest
    first, and how many there are in all."""
    conditions: list[ColumnElement[bool]] = [products.c.archived_at.is_(None)]
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(
            or_(
                products.c.name.ilike(pattern, escape="\\"),
                products.c.sku.ilike(pattern, escape="\\"),
            )
        )
    if category is not None:
        in_category = select(categories.c.category_id).where(categories.c.slug == category)
        conditions.append(products.c.category_id == in_category.scalar_subquery())
    count = select(func.count()).select_from(products).where(*conditions)
    query = (
        select(products).where(*conditions).order_by(products.c.created_at, products.c.product_id)
    )
    total = session.execute(count).scalar_one()
    rows = session.execute(query.offset((page - 1) * size).limit(size)).mappings().all()
    return list(rows), int(total)


def list_categories(session: Session) -> list[RowMapping]:
    """Every category, by name."""
    query = select(categories).order_by(
        categories.c.name.collate(_NAME_ORDER), categories.c.category_id
    )
    return list(session.execute(query).mappings().all())
