"""Archived products on the in-memory fakes: archived once (product.archived, then nothing on a
repeat), no longer changed, refused by a new order's reservation with the product named, while
the orders that reserved it before are committed or released as usual."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from contracts.events import (
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderLine,
    ProductArchived,
    StockReservationFailed,
)
from product_service.adapters.memory import InMemoryProductUnitOfWork, ProductStore
from product_service.application import commands, handlers
from product_service.domain.errors import ProductNotFound
from product_service.domain.product import Product, ProductChanges, Stock
from product_service.domain.reservation import (
    ReservationRefused,
    ReservationStatus,
    StockLevel,
    plan_reservation,
)
from servicekit.messaging.envelope import Event
from servicekit.messaging.unit_of_work import Cause

DEADLINE = datetime(2030, 1, 1, tzinfo=UTC)
CUSTOMER = str(uuid.uuid4())


class Shop:
    def __init__(self) -> None:
        self.store = ProductStore()
        self.uows: list[InMemoryProductUnitOfWork] = []

    def unit_of_work(self) -> InMemoryProductUnitOfWork:
        uow = InMemoryProductUnitOfWork(self.store, Cause("corr", str(uuid.uuid4())))
        self.uows.append(uow)
        return uow

    def product(self, stock: int = 10) -> str:
        command = commands.CreateProduct(
            sku=f"SKU-{uuid.uuid4().hex[:8]}",
            name="Cup",
            description=None,
            price=Decimal("10"),
            currency="EUR",
            stock=stock,
        )
        with self.unit_of_work() as uow:
            return commands.create_product(command, uow).product_id

    def archive(self, product_id: str) -> None:
        with self.unit_of_work() as uow:
            commands.archive_product(commands.ArchiveProduct(product_id), uow)

    def order(self, lines: list[tuple[str, int]]) -> str:
        event = OrderCreated(
            order_id=str(uuid.uuid4()),
            customer_id=CUSTOMER,
            items=[OrderLine(product_id=pid, quantity=qty) for pid, qty in lines],
            currency="EUR",
            deadline_at=DEADLINE,
        )
        with self.unit_of_work() as uow:
            handlers.on_order_created(event, uow)
        return event.order_id

    def published(self) -> list[Event]:
        return [event for uow in self.uows for event in uow.events()]


def test_archiving_is_announced_once_and_a_repeat_changes_nothing() -> None:
    shop = Shop()
    product_id = shop.product()
    shop.archive(product_id)
    archived_at = shop.store.products[product_id].archived_at
    assert archived_at is not None and archived_at.tzinfo is not None
    assert shop.published()[-1] == ProductArchived(product_id=product_id, archived_at=archived_at)
    assert shop.uows[-1].locks == [("product", product_id)]

    shop.archive(product_id)

    assert shop.uows[-1].events() == [] and shop.uows[-1].committed == 1
    assert shop.store.products[product_id].archived_at == archived_at
    assert [type(e) for e in shop.published()].count(ProductArchived) == 1


def test_the_domain_archives_once() -> None:
    product = Product.create(
        product_id="p-1",
        sku="S-1",
        name="Cup",
        description=None,
        price=Decimal("1"),
        currency="EUR",
        stock=1,
    )
    product.events.clear()
    moment = datetime(2030, 5, 1, tzinfo=UTC)
    assert product.archive(moment) and product.archived
    assert not product.archive(datetime(2031, 1, 1, tzinfo=UTC))
    assert product.archived_at == moment
    assert product.events == [ProductArchived(product_id="p-1", archived_at=moment)]


def test_an_unknown_product_cannot_be_archived() -> None:
    shop = Shop()
    with pytest.raises(ProductNotFound):
        shop.archive(str(uuid.uuid4()))
    assert shop.published() == []


def test_an_archived_product_is_not_found_for_changes_and_nothing_is_written() -> None:
    shop = Shop()
    product_id = shop.product(stock=10)
    shop.archive(product_id)
    before = len(shop.published())
    with pytest.raises(ProductNotFound), shop.unit_of_work() as uow:
        commands.update_product(
            commands.UpdateProduct(product_id, ProductChanges(name="x", stock=1), "admin"), uow
        )
    stored = shop.store.products[product_id]
    assert (stored.name, stored.stock) == ("Cup", Stock.opening(10))
    assert len(shop.published()) == before and shop.store.adjustments == []


def test_a_new_order_for_an_archived_product_is_refused_naming_it_and_holds_nothing() -> None:
    shop = Shop()
    archived, listed = shop.product(stock=10), shop.product(stock=10)
    shop.archive(archived)

    order_id = shop.order([(listed, 1), (archived, 2)])

    failed = shop.published()[-1]
    assert isinstance(failed, StockReservationFailed) and failed.order_id == order_id
    assert failed.reason == f"archived product: {archived}"
    assert shop.store.reservations[order_id].status == ReservationStatus.FAILED
    assert shop.store.products[listed].stock == shop.store.products[archived].stock
    assert shop.store.products[listed].stock == Stock.opening(10)


def test_every_reason_is_named_at_once_with_the_archived_ones() -> None:
    a, b, c = sorted(str(uuid.uuid4()) for _ in range(3))
    stock = {
        a: StockLevel(a, Decimal("1"), "EUR", 0, archived=True),
        b: StockLevel(b, Decimal("1"), "EUR", 0),
    }
    with pytest.raises(ReservationRefused) as refused:
        plan_reservation({a: 1, b: 1, c: 1}, stock, currency="EUR")
    assert str(refused.value) == (
        f"unknown product: {c}; archived product: {a}; "
        f"insufficient stock for product {b}: requested 1, available 0"
    )


@pytest.mark.parametrize("end", ["confirmed", "cancelled"])
def test_orders_reserved_before_the_archive_are_settled_as_usual(end: str) -> None:
    shop = Shop()
    product_id = shop.product(stock=10)
    order_id = shop.order([(product_id, 3)])
    shop.archive(product_id)

    with shop.unit_of_work() as uow:
        if end == "confirmed":
            handlers.on_order_confirmed(
                OrderConfirmed(
                    order_id=order_id, customer_id=CUSTOMER, items=[], total="30.00", currency="EUR"
                ),
                uow,
            )
        else:
            handlers.on_order_cancelled(
                OrderCancelled(order_id=order_id, customer_id=CUSTOMER, reason="changed mind"), uow
            )

    stored = shop.store.products[product_id]
    assert stored.archived
    if end == "confirmed":
        assert shop.store.reservations[order_id].status == ReservationStatus.COMMITTED
        assert stored.stock == Stock(initial=10, available=7, sold=3)
    else:
        assert shop.store.reservations[order_id].status == ReservationStatus.RELEASED
        assert stored.stock == Stock.opening(10)
