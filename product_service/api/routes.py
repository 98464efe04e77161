"""Products endpoints: reads are public (views.py), writes need the admin role and are each one
command in its own unit of work. Domain errors become statuses in api/errors.py."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from product_service import views
from product_service.api.schemas import Product, ProductCreate, ProductPage, ProductUpdate
from product_service.application import commands
from product_service.application.ports import UnitOfWorkFactory
from product_service.domain.errors import ProductNotFound
from servicekit.api import PageNumber, PageSize, SearchText, errors
from servicekit.dependencies import AdminUser, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/products", tags=["products"])


async def get_unit_of_work(runtime: RuntimeDep) -> UnitOfWorkFactory:
    """Units of work that own their transaction, wired at start-up (main.py)."""
    factory: UnitOfWorkFactory = runtime.extras["unit_of_work"]
    return factory


UnitOfWorkDep = Annotated[UnitOfWorkFactory, Depends(get_unit_of_work)]


@router.get("")
def list_products(
    session: SessionDep,
    q: SearchText = None,
    page: PageNumber = 1,
    size: PageSize = 20,
) -> ProductPage:
    """Public: the catalog, searched by name or SKU, paginated."""
    rows, total = views.list_products(session, q=(q or "").strip(), page=page, size=size)
    return ProductPage(items=[Product.from_row(r) for r in rows], page=page, size=size, total=total)


@router.get("/{product_id}", responses=errors(404))
def get_product(product_id: uuid.UUID, session: SessionDep) -> Product:
    """Public: one product."""
    row = views.get_product(session, str(product_id))
    if row is None:
        raise ProductNotFound
    return Product.from_row(row)


@router.post("", status_code=status.HTTP_201_CREATED, responses=errors(403, 409))
def create_product(body: ProductCreate, _admin: AdminUser, unit_of_work: UnitOfWorkDep) -> Product:
    """Admin: add a product with its initial stock."""
    with unit_of_work() as uow:
        product = commands.create_product(body.command(), uow)
    return Product.of(product)


@router.patch("/{product_id}", responses=errors(403, 404))
def update_product(
    product_id: uuid.UUID, body: ProductUpdate, admin: AdminUser, unit_of_work: UnitOfWorkDep
) -> Product:
    """Admin: change name, description, price, or the quantity available for new orders."""
    with unit_of_work() as uow:
        product = commands.update_product(body.command(str(product_id), actor=admin.user_id), uow)
    return Product.of(product)
