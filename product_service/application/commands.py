"""What admins ask of the catalog, products and categories: one function per command,
``(command, uow)``.

A command runs in a unit of work that owns its transaction (servicekit.messaging.unit_of_work):
whatever the product records is published when it commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from product_service.application.ports import ProductUnitOfWork
from product_service.domain.category import Category, CategoryChanges
from product_service.domain.errors import CategoryNotFound, ProductNotFound
from product_service.domain.product import Product, ProductChanges
from servicekit.ids import new_id
from servicekit.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class CreateProduct:
    """An admin adds a product with its initial stock."""

    sku: str
    name: str
    description: str | None
    price: Decimal
    currency: str
    stock: int
    category_id: str | None = None


@dataclass(frozen=True)
class UpdateProduct:
    """An admin changes a product: name, description, price, the quantity available, its
    category."""

    product_id: str
    changes: ProductChanges
    actor: str  # who, for the stock adjustment's audit trail


@dataclass(frozen=True)
class ArchiveProduct:
    """An admin takes a product out of the catalog."""

    product_id: str


@dataclass(frozen=True)
class CreateCategory:
    """An admin adds a category; without a slug, one is derived from the name."""

    name: str
    slug: str | None
    description: str | None


@dataclass(frozen=True)
class UpdateCategory:
    """An admin renames a category or changes its description (never its slug)."""

    category_id: str
    changes: CategoryChanges


@dataclass(frozen=True)
class DeleteCategory:
    """An admin deletes an empty category."""

    category_id: str


def create_product(command: CreateProduct, uow: ProductUnitOfWork) -> Product:
    """Add the product; product.created goes out with it. SkuTaken for a SKU in use,
    UnknownCategory for a category that does not exist."""
    product = Product.create(
        product_id=str(new_id()),
        sku=command.sku,
        name=command.name,
        description=command.description,
        price=command.price,
        currency=command.currency,
        stock=command.stock,
        category_id=command.category_id,
    )
    uow.products.add(product)
    log.info("product_created", product_id=product.product_id, sku=product.sku)
    return product


def update_product(command: UpdateProduct, uow: ProductUnitOfWork) -> Product:
    """Apply the changes; product.updated goes out with them (nothing is written when there are
    none). ProductNotFound for an unknown or archived product, UnknownCategory for a category
    that does not exist."""
    product = uow.products.get_for_update(command.product_id)
    if product is None or product.archived:
        raise ProductNotFound
    if command.changes.empty:
        return product
    product.change(command.changes, actor=command.actor)
    uow.products.save(product)
    log.info("product_updated", product_id=product.product_id, fields=command.changes.given)
    return product


def archive_product(command: ArchiveProduct, uow: ProductUnitOfWork) -> None:
    """Archive the product; product.archived goes out with it. Archiving an archived product
    changes and announces nothing. ProductNotFound for an unknown product."""
    product = uow.products.get_for_update(command.product_id)
    if product is None:
        raise ProductNotFound
    if not product.archive(datetime.now(UTC)):
        return
    uow.products.save(product)
    log.info("product_archived", product_id=product.product_id)


def create_category(command: CreateCategory, uow: ProductUnitOfWork) -> Category:
    """Add the category; category.created goes out with it. SlugTaken for a slug in use,
    SlugUnderivable for a name without one and no slug given."""
    category = Category.create(
        category_id=str(new_id()),
        name=command.name,
        slug=command.slug,
        description=command.description,
    )
    uow.categories.add(category)
    log.info("category_created", category_id=category.category_id, slug=category.slug)
    return category


def update_category(command: UpdateCategory, uow: ProductUnitOfWork) -> Category:
    """Apply the changes; category.updated goes out with them (nothing is written when there
    are none). CategoryNotFound for an unknown category."""
    category = uow.categories.get_for_update(command.category_id)
    if category is None:
        raise CategoryNotFound
    if command.changes.empty:
        return category
    category.change(command.changes)
    uow.categories.save(category)
    log.info("category_updated", category_id=category.category_id, fields=command.changes.given)
    return category


def delete_category(command: DeleteCategory, uow: ProductUnitOfWork) -> None:
    """Delete an empty category; category.deleted goes out with it. CategoryNotFound for an
    unknown category, CategoryNotEmpty while products are in it (archived ones included)."""
    category = uow.categories.get_for_update(command.category_id)
    if category is None:
        raise CategoryNotFound
    category.delete(products=uow.categories.products_in(category.category_id))
    uow.categories.remove(category)
    log.info("category_deleted", category_id=category.category_id, slug=category.slug)
