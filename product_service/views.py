"""Reads of the catalog for the API: one product, a page of products. Queries only, apart from
the use cases (application/commands.py, application/handlers.py); the catalog is public."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from product_service.adapters.tables import products


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
    """A page of products whose name or SKU contains ``q`` (case-insensitive), oldest first,
    and how many there are in all."""
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
