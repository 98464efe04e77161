"""The catalog read models on the fakes, fed through the handlers as the inbox feeds them:
products keep their category, an archived product stays archived and cannot be ordered (the
refusal names it, nothing is written), categories come and go; and what a placed order keeps:
its delivery address, payment method and the correlation id of the request."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from contracts.events import (
    Address,
    CategoryCreated,
    CategoryDeleted,
    CategoryUpdated,
    OrderCreated,
    ProductArchived,
    ProductCreated,
    ProductUpdated,
)
from order_service.adapters.memory import InMemoryOrderUnitOfWork, OrderStore
from order_service.application import handlers
from order_service.application.commands import PlaceOrder, place_order
from order_service.application.ports import Category
from order_service.domain.errors import ArchivedProducts, IdempotencyConflict, UnknownProducts
from order_service.domain.statuses import PaymentMethod
from servicekit.messaging.envelope import Event
from servicekit.messaging.unit_of_work import Cause

CUSTOMER = str(uuid.uuid4())
FRUIT, DRINKS = str(uuid.uuid4()), str(uuid.uuid4())
ADDRESS = Address(
    street="Av. Paulista", number="1000", city="São Paulo", state="SP", country="BR",
    zipcode="01310-100",
)  # fmt: skip


def product(category_id: str | None = FRUIT, price: str = "3.50") -> ProductCreated:
    product_id = str(uuid.uuid4())
    return ProductCreated(
        product_id=product_id,
        sku=f"SKU-{product_id[:8]}",
        name="mango",
        price=price,
        currency="BRL",
        category_id=category_id,
    )


class Shop:
    def __init__(self) -> None:
        self.store = OrderStore()
        self.uows: list[InMemoryOrderUnitOfWork] = []

    def unit_of_work(self, correlation_id: str = "corr-1") -> InMemoryOrderUnitOfWork:
        uow = InMemoryOrderUnitOfWork(self.store, Cause(correlation_id, str(uuid.uuid4())))
        self.uows.append(uow)
        return uow

    def deliver(self, event: Event) -> None:
        handler: Any = {
            ProductCreated: handlers.on_product_created,
            ProductUpdated: handlers.on_product_updated,
            ProductArchived: handlers.on_product_archived,
            CategoryCreated: handlers.on_category_created,
            CategoryUpdated: handlers.on_category_updated,
            CategoryDeleted: handlers.on_category_deleted,
        }[type(event)]
        with self.unit_of_work() as uow:
            handler(event, uow)
            assert uow.locks == []  # read models record no events, so lock nothing

    def place(
        self,
        items: list[tuple[str, int]],
        *,
        address: Address | None = None,
        key: str | None = None,
        correlation_id: str = "corr-1",
    ) -> str:
        command = PlaceOrder(
            customer_id=CUSTOMER,
            items=items,
            delivery_address=address,
            idempotency_key=key,
            saga_timeout=timedelta(seconds=30),
        )
        with self.unit_of_work(correlation_id) as uow:
            return place_order(command, uow).order_id


def archived(product_id: str) -> ProductArchived:
    return ProductArchived(product_id=product_id, archived_at=datetime.now(UTC))


def test_products_keep_their_category_through_updates() -> None:
    shop = Shop()
    mango = product(FRUIT)
    shop.deliver(mango)
    assert shop.store.products[mango.product_id].category_id == FRUIT
    shop.deliver(ProductUpdated(**{**mango.model_dump(), "category_id": DRINKS, "price": "4.00"}))
    known = shop.store.products[mango.product_id]
    assert (known.category_id, known.price, known.archived) == (DRINKS, Decimal("4.00"), False)
    shop.deliver(ProductUpdated(**{**mango.model_dump(), "category_id": None}))
    assert shop.store.products[mango.product_id].category_id is None


def test_an_archived_product_cannot_be_ordered_and_the_refusal_names_it() -> None:
    shop = Shop()
    mango, lime = product(), product()
    shop.deliver(mango)
    shop.deliver(lime)
    shop.deliver(archived(mango.product_id))
    with pytest.raises(ArchivedProducts) as refused:
        shop.place([(lime.product_id, 1), (mango.product_id, 2)])
    assert refused.value.product_ids == [mango.product_id]
    assert mango.product_id in str(refused.value) and lime.product_id not in str(refused.value)
    assert shop.store.orders == {}
    assert [e for u in shop.uows for e in u.events(OrderCreated)] == []
    # The other product is still orderable.
    assert shop.place([(lime.product_id, 1)]) in shop.store.orders


def test_an_update_after_the_archive_does_not_bring_the_product_back() -> None:
    shop = Shop()
    mango = product()
    shop.deliver(mango)
    shop.deliver(archived(mango.product_id))
    shop.deliver(ProductUpdated(**{**mango.model_dump(), "price": "9.00"}))
    assert shop.store.products[mango.product_id].archived
    with pytest.raises(ArchivedProducts):
        shop.place([(mango.product_id, 1)])


def test_an_order_placed_before_the_archive_keeps_its_product() -> None:
    shop = Shop()
    mango = product()
    shop.deliver(mango)
    order_id = shop.place([(mango.product_id, 2)])
    shop.deliver(archived(mango.product_id))
    order = shop.store.orders[order_id]
    assert [(line.product_id, line.quantity) for line in order.lines] == [(mango.product_id, 2)]


def test_archiving_a_product_the_read_model_never_saw_changes_nothing() -> None:
    shop = Shop()
    stranger = str(uuid.uuid4())
    shop.deliver(archived(stranger))
    assert stranger not in shop.store.products
    with pytest.raises(UnknownProducts):
        shop.place([(stranger, 1)])


def test_categories_are_created_renamed_and_deleted() -> None:
    shop = Shop()
    shop.deliver(CategoryCreated(category_id=FRUIT, name="Fruit", slug="fruit"))
    shop.deliver(
        CategoryUpdated(category_id=FRUIT, name="Fresh fruit", slug="fruit", description="ripe")
    )
    with shop.unit_of_work() as uow:
        assert uow.categories.get(FRUIT) == Category(FRUIT, "Fresh fruit", "fruit", "ripe")
    mango = product(FRUIT)
    shop.deliver(mango)
    shop.deliver(CategoryDeleted(category_id=FRUIT, slug="fruit"))
    with shop.unit_of_work() as uow:
        assert uow.categories.get(FRUIT) is None
    # Its products keep their category id (product_service moves them first, by its events).
    assert shop.store.products[mango.product_id].category_id == FRUIT


def test_an_order_keeps_its_address_payment_method_and_correlation_id() -> None:
    shop = Shop()
    mango = product()
    shop.deliver(mango)
    order_id = shop.place([(mango.product_id, 1)], address=ADDRESS, correlation_id="req-42")
    order = shop.store.orders[order_id]
    assert order.delivery_address == ADDRESS
    assert order.payment_method == PaymentMethod.CARD
    assert order.correlation_id == "req-42"
    (created,) = [e for u in shop.uows for e in u.events(OrderCreated)]
    assert created.delivery_address == ADDRESS  # type: ignore[attr-defined]
    assert created.payment_method == "card"  # type: ignore[attr-defined]
    without = shop.place([(mango.product_id, 1)])
    assert shop.store.orders[without].delivery_address is None


def test_the_same_key_with_another_address_is_another_request() -> None:
    shop = Shop()
    mango = product()
    shop.deliver(mango)
    first = shop.place([(mango.product_id, 1)], address=ADDRESS, key="k")
    assert shop.place([(mango.product_id, 1)], address=ADDRESS, key="k") == first
    moved = ADDRESS.model_copy(update={"number": "1001"})
    with pytest.raises(IdempotencyConflict):
        shop.place([(mango.product_id, 1)], address=moved, key="k")
