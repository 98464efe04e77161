"""Products endpoints: reads are public, writes need the admin role."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, status

from product_service.api.schemas import Product, ProductCreate, ProductPage, ProductUpdate
from product_service.application import handlers
from product_service.domain.errors import SkuTaken
from servicekit.api import PageNumber, PageSize, SearchText, errors
from servicekit.web import AdminUser, CorrelationId, SessionDep

router = APIRouter(prefix="/api/products", tags=["products"])

NOT_FOUND = "product not found"


@router.get("")
def list_products(
    session: SessionDep,
    q: SearchText = None,
    page: PageNumber = 1,
    size: PageSize = 20,
) -> ProductPage:
    """Public: the catalog, searched by name or SKU, paginated."""
    rows, total = handlers.list_products(session, q=(q or "").strip(), page=page, size=size)
    return ProductPage(items=[Product.from_row(r) for r in rows], page=page, size=size, total=total)


@router.get("/{product_id}", responses=errors(404))
def get_product(product_id: uuid.UUID, session: SessionDep) -> Product:
    """Public: one product."""
    row = handlers.get_product(session, str(product_id))
    if row is None:
        raise HTTPException(404, NOT_FOUND)
    return Product.from_row(row)


@router.post("", status_code=status.HTTP_201_CREATED, responses=errors(403, 409))
def create_product(
    body: ProductCreate, _admin: AdminUser, session: SessionDep, correlation_id: CorrelationId
) -> Product:
    """Admin: add a product with its initial stock."""
    try:
        row = handlers.create_product(
            session,
            sku=body.sku,
            name=body.name,
            description=body.description,
            price=body.price,
            currency=body.currency,
            stock=body.stock,
            correlation_id=correlation_id,
        )
    except SkuTaken:
        raise HTTPException(409, f"a product with SKU {body.sku!r} already exists") from None
    return Product.from_row(row)


@router.patch("/{product_id}", responses=errors(403, 404))
def update_product(
    product_id: uuid.UUID,
    body: ProductUpdate,
    admin: AdminUser,
    session: SessionDep,
    correlation_id: CorrelationId,
) -> Product:
    """Admin: change name, description, price, or the quantity available for new orders."""
    row = handlers.update_product(
        session,
        str(product_id),
        changes=body.model_dump(exclude_unset=True),
        actor=admin.user_id,
        correlation_id=correlation_id,
    )
    if row is None:
        raise HTTPException(404, NOT_FOUND)
    return Product.from_row(row)
