"""The catalog commands on the in-memory fakes: products announced when created and changed,
SKUs unique whatever their case, a new stock recorded as an adjustment, and refusals that write
nothing."""

from __future__ import annotations

import dataclasses
import uuid
from decimal import Decimal

import pytest

from contracts.events import ProductCreated, ProductUpdated
from product_service.adapters.memory import (
    InMemoryProductUnitOfWork,
    ProductStore,
    StoredAdjustment,
)
from product_service.application.commands import (
    CreateProduct,
    UpdateProduct,
    create_product,
    update_product,
)
from product_service.domain.errors import ProductNotFound, SkuTaken
from product_service.domain.product import Product, ProductChanges, Stock
from servicekit.messaging.unit_of_work import Cause

CUP = CreateProduct(
    sku="CUP-1", name="Cup", description="80 ml", price=Decimal("19.9"), currency="EUR", stock=25
)


class Catalog:
    def __init__(self) -> None:
        self.store = ProductStore()
        self.uows: list[InMemoryProductUnitOfWork] = []

    def unit_of_work(self) -> InMemoryProductUnitOfWork:
        uow = InMemoryProductUnitOfWork(self.store, Cause("corr-1"))
        self.uows.append(uow)
        return uow

    def create(self, command: CreateProduct = CUP) -> Product:
        with self.unit_of_work() as uow:
            return create_product(command, uow)

    def update(self, product_id: str, changes: ProductChanges) -> Product:
        with self.unit_of_work() as uow:
            return update_product(UpdateProduct(product_id, changes, actor="admin-1"), uow)

    def published(self) -> list[object]:
        return [event for uow in self.uows for event in uow.events()]


def test_a_created_product_is_stored_and_announced() -> None:
    catalog = Catalog()
    product = catalog.create()
    stored = catalog.store.products[product.product_id]
    assert (stored.sku, stored.price, stored.stock) == (
        "CUP-1",
        Decimal("19.90"),
        Stock.opening(25),
    )
    assert catalog.published() == [
        ProductCreated(
            product_id=product.product_id, sku="CUP-1", name="Cup", price="19.90", currency="EUR"
        )
    ]
    assert catalog.uows[-1].locks == [("product", product.product_id)]


@pytest.mark.parametrize("sku", ["CUP-1", "cup-1"])
def test_a_sku_in_use_is_refused_whatever_its_case_and_nothing_is_written(sku: str) -> None:
    catalog = Catalog()
    catalog.create()
    with pytest.raises(SkuTaken, match=f"a product with SKU '{sku}' already exists"):
        catalog.create(dataclasses.replace(CUP, sku=sku))
    assert len(catalog.store.products) == 1 and len(catalog.published()) == 1


def test_changes_are_stored_announced_and_a_new_stock_is_an_adjustment() -> None:
    catalog = Catalog()
    product_id = catalog.create().product_id
    changed = catalog.update(
        product_id, ProductChanges(name="Blue cup", description=None, price=Decimal("21"), stock=4)
    )
    stored = catalog.store.products[product_id]
    assert (stored.name, stored.description, stored.price) == ("Blue cup", None, Decimal("21.00"))
    assert stored.stock == changed.stock == Stock(initial=25, available=4, adjusted=-21)
    assert catalog.store.adjustments == [
        StoredAdjustment(
            product_id, delta=-21, available=4, adjusted_by="admin-1", correlation_id="corr-1"
        )
    ]
    assert catalog.published()[-1] == ProductUpdated(
        product_id=product_id, sku="CUP-1", name="Blue cup", price="21.00", currency="EUR"
    )


def test_no_change_writes_and_announces_nothing() -> None:
    catalog = Catalog()
    product = catalog.create()
    unchanged = catalog.update(product.product_id, ProductChanges())
    assert unchanged.name == "Cup" and unchanged.stock == Stock.opening(25)
    assert [type(event) for event in catalog.published()] == [ProductCreated]
    assert catalog.store.adjustments == []


def test_an_unknown_product_is_not_found_and_nothing_is_written() -> None:
    catalog = Catalog()
    with pytest.raises(ProductNotFound, match="product not found"):
        catalog.update(str(uuid.uuid4()), ProductChanges(name="ghost"))
    assert catalog.store.products == {} and catalog.published() == []


def test_a_stock_change_leaves_held_units_alone() -> None:
    catalog = Catalog()
    product_id = catalog.create().product_id
    stored = catalog.store.products[product_id]
    stored.stock = stored.stock.reserve(3)
    catalog.update(product_id, ProductChanges(stock=20))
    assert catalog.store.products[product_id].stock == Stock(
        initial=25, available=20, adjusted=-2, reserved=3
    )
    catalog.update(product_id, ProductChanges(stock=0))
    assert [a.delta for a in catalog.store.adjustments] == [-2, -20]
    assert catalog.store.products[product_id].stock.conserved
