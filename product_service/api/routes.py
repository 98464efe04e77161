"""Catalog endpoints, products and categories: reads are public (views.py), writes need the
admin role and are each one command in its own unit of work. Domain errors become statuses in
api/errors.py."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from product_service import views
from product_service.api.schemas import (
    Category,
    CategoryCreate,
    CategoryUpdate,
    Product,
    ProductCreate,
    ProductPage,
    ProductUpdate,
)
from product_service.application import commands
from product_service.application.ports import UnitOfWorkFactory
from product_service.domain.category import SLUG_MAX_LENGTH
from product_service.domain.errors import ProductNotFound
from servicekit.api import PageNumber, PageSize, SearchText, Text, errors
from servicekit.dependencies import AdminUser, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/products", tags=["products"])
categories_router = APIRouter(prefix="/api/categories", tags=["categories"])

# Any text: a slug no category has (well-formed or not) lists nothing, it is no error.
CategorySlug = Annotated[
    Text | None,
    Query(max_length=SLUG_MAX_LENGTH, description="a category's slug: its products only"),
]


async def get_unit_of_work(runtime: RuntimeDep) -> UnitOfWorkFactory:
    """Units of work that own their transaction, wired at start-up (main.py)."""
    factory: UnitOfWorkFactory = runtime.extras["unit_of_work"]
    return factory


UnitOfWorkDep = Annotated[UnitOfWorkFactory, Depends(get_unit_of_work)]


@router.get("")
def list_products(
    session: SessionDep,
    q: SearchText = None,
    category: CategorySlug = None,
    page: PageNumber = 1,
    size: PageSize = 20,
) -> ProductPage:
    """Public: the catalog (archived products are not in it), searched by name or SKU, filtered
    by category, paginated."""
    rows, total = views.list_products(
        session, q=(q or "").strip(), category=category, page=page, size=size
    )
    return ProductPage(items=[Product.from_row(r) for r in rows], page=page, size=size, total=total)


@router.get("/{product_id}", responses=errors(404))
def get_product(product_id: uuid.UUID, session: SessionDep) -> Product:
    """Public: one product; 404 once archived."""
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
    """Admin: change name, description, price, category, or the quantity available for new
    orders; 404 once archived."""
    with unit_of_work() as uow:
        product = commands.update_product(body.command(str(product_id), actor=admin.user_id), uow)
    return Product.of(product)


@router.delete("/{product_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(403, 404))
def archive_product(
    product_id: uuid.UUID, _admin: AdminUser, unit_of_work: UnitOfWorkDep
) -> Response:
    """Admin: archive a product: no longer listed, shown or orderable; the orders that hold it
    keep it. Archiving it again changes nothing."""
    with unit_of_work() as uow:
        commands.archive_product(commands.ArchiveProduct(str(product_id)), uow)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- categories --------------------------------------------------------------------------------


@categories_router.get("")
def list_categories(session: SessionDep) -> list[Category]:
    """Public: every category, by name."""
    return [Category.from_row(row) for row in views.list_categories(session)]


@categories_router.post("", status_code=status.HTTP_201_CREATED, responses=errors(403, 409))
def create_category(
    body: CategoryCreate, _admin: AdminUser, unit_of_work: UnitOfWorkDep
) -> Category:
    """Admin: add a category; without a slug, one is derived from the name."""
    with unit_of_work() as uow:
        category = commands.create_category(body.command(), uow)
    return Category.of(category)


@categories_router.patch("/{category_id}", responses=errors(403, 404))
def update_category(
    category_id: uuid.UUID, body: CategoryUpdate, _admin: AdminUser, unit_of_work: UnitOfWorkDep
) -> Category:
    """Admin: rename a category or change its description; its slug stays."""
    with unit_of_work() as uow:
        category = commands.update_category(body.command(str(category_id)), uow)
    return Category.of(category)


@categories_router.delete(
    "/{category_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(403, 404, 409)
)
def delete_category(
    category_id: uuid.UUID, _admin: AdminUser, unit_of_work: UnitOfWorkDep
) -> Response:
    """Admin: delete a category; 409 while products are in it, archived ones included."""
    with unit_of_work() as uow:
        commands.delete_category(commands.DeleteCategory(str(category_id)), uow)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
