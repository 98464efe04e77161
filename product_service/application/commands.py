"""What admins ask of the catalog: one function per command, ``(command, uow)``.

A command runs in a unit of work that owns its transaction (servicekit.messaging.unit_of_work):
whatever the product records is published when it commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from product_service.application.ports import ProductUnitOfWork
from product_service.domain.errors import ProductNotFound
from product_service.domain.product import Product, ProductChanges
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


@dataclass(frozen=True)
class UpdateProduct:
    """An admin changes a product: name, description, price, the quantity available."""

    product_id: str
    changes: ProductChanges
    actor: str  # who, for the stock adjustment's audit trail


def create_product(command: CreateProduct, uow: ProductUnitOfWork) -> Product:
    """Add the product; product.created goes out with it. SkuTaken for a SKU in use."""
    product = Product.create(
        product_id=str(uuid.uuid4()),
        sku=command.sku,
        name=command.name,
        description=command.description,
        price=command.price,
        currency=command.currency,
        stock=command.stock,
    )
    uow.products.add(product)
    log.info("product_created", product_id=product.product_id, sku=product.sku)
    return product


def update_product(command: UpdateProduct, uow: ProductUnitOfWork) -> Product:
    """Apply the changes; product.updated goes out with them (nothing is written when there are
    none). ProductNotFound for an unknown product."""
    product = uow.products.get_for_update(command.product_id)
    if product is None:
        raise ProductNotFound
    if command.changes.empty:
        return product
    product.change(command.changes, actor=command.actor)
    uow.products.save(product)
    log.info("product_updated", product_id=product.product_id, fields=command.changes.given)
    return product
