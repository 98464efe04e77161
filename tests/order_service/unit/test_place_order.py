"""Placing orders on the fakes: prices from the catalog read model, one currency, a bounded
total, Idempotency-Keys, and products the read model has not seen yet."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from contracts.events import OrderCreated, ProductCreated
from order_service.adapters.memory import InMemoryCatalog, InMemoryOrderUnitOfWork, OrderStore
from order_service.application.service import OrderService
from order_service.domain.errors import (
    IdempotencyConflict,
    MixedCurrencies,
    TotalTooLarge,
    UnknownProducts,
)
from order_service.domain.statuses import PaymentMethod
from servicekit.messaging.unit_of_work import Cause

CUSTOMER = str(uuid.uuid4())
BOOK, LAMP, YACHT = (str(uuid.uuid4()) for _ in range(3))


def product(product_id: str, price: str, currency: str = "EUR") -> ProductCreated:
    return ProductCreated(
        product_id=product_id, sku=f"SKU-{product_id[:8]}", name="x", price=price, currency=currency
    )


class Shop:
    def __init__(self, *known: ProductCreated, upstream: dict[str, ProductCreated] | None = None):
        self.store = OrderStore()
        for item in known:
            InMemoryCatalog(self.store).remember(item)
        self.upstream = upstream or {}
        self.lookups: list[list[str]] = []
        self.uows: list[InMemoryOrderUnitOfWork] = []
        self.orders = OrderService(
            self._unit_of_work, lookup_products=self._lookup, saga_timeout=timedelta(seconds=30)
        )

    def _unit_of_work(self) -> InMemoryOrderUnitOfWork:
        uow = InMemoryOrderUnitOfWork(self.store, Cause("corr"))
        self.uows.append(uow)
        return uow

    def _lookup(self, ids: list[str]) -> dict[str, ProductCreated | None]:
        self.lookups.append(ids)
        return {i: self.upstream.get(i) for i in ids}

    def place(self, items: list[tuple[str, int]], key: str | None = None):
        return self.orders.place(
            customer_id=CUSTOMER, items=items, delivery_address=None, idempotency_key=key
        )

    def created(self) -> list[OrderCreated]:
        return [e for u in self.uows for e in u.events(OrderCreated)]


def test_an_order_is_placed_at_catalog_prices_and_announced() -> None:
    shop = Shop(product(BOOK, "12.50"))
    placed = shop.place([(BOOK, 2)])
    assert (placed.status, placed.created) == ("PENDING", True)
    order = shop.store.orders[placed.order_id]
    assert order.total == Decimal("25.00")
    (created,) = shop.created()
    assert created.order_id == placed.order_id
    assert created.currency == "EUR"


def test_the_same_key_and_request_again_is_the_same_order() -> None:
    shop = Shop(product(BOOK, "12.50"))
    first = shop.place([(BOOK, 1)], key="k1")
    again = shop.place([(BOOK, 1)], key="k1")
    assert again.order_id == first.order_id and again.created is False
    assert len(shop.store.orders) == 1 and len(shop.created()) == 1
    with pytest.raises(IdempotencyConflict):
        shop.place([(BOOK, 2)], key="k1")


def test_unknown_products_are_looked_up_once_and_the_order_placed() -> None:
    shop = Shop(upstream={BOOK: product(BOOK, "5.00")})
    placed = shop.place([(BOOK, 1)])
    assert shop.lookups == [[BOOK]]
    known = shop.store.products[BOOK]
    assert (known.price, known.currency) == (Decimal("5.00"), "EUR")
    assert shop.store.orders[placed.order_id].total == Decimal("5.00")


def test_products_nobody_knows_are_refused_and_nothing_is_written() -> None:
    shop = Shop(product(BOOK, "5.00"))
    with pytest.raises(UnknownProducts) as refused:
        shop.place([(BOOK, 1), (LAMP, 1)])
    assert refused.value.product_ids == [LAMP]
    assert shop.store.orders == {} and shop.created() == []


def test_one_currency_per_order_and_a_total_that_fits() -> None:
    shop = Shop(
        product(BOOK, "5.00"), product(LAMP, "5.00", "USD"), product(YACHT, "9999999999.99")
    )
    with pytest.raises(MixedCurrencies):
        shop.place([(BOOK, 1), (LAMP, 1)])
    with pytest.raises(TotalTooLarge):
        shop.place([(YACHT, 1000)])
    assert shop.store.orders == {}


def test_a_pix_order_gets_the_pix_deadline_and_says_how_it_is_paid() -> None:
    shop = Shop(product(BOOK, "12.50", "BRL"))
    shop.orders.pix_payment_timeout = timedelta(minutes=15)
    card = shop.place([(BOOK, 1)])
    pix = shop.orders.place(
        customer_id=CUSTOMER,
        items=[(BOOK, 1)],
        delivery_address=None,
        idempotency_key=None,
        payment_method=PaymentMethod.PIX,
    )
    by_id = {event.order_id: event for event in shop.created()}
    assert by_id[pix.order_id].payment_method == "pix"
    assert by_id[card.order_id].payment_method == "card"
    waited = by_id[pix.order_id].deadline_at - by_id[card.order_id].deadline_at
    assert timedelta(minutes=14) < waited < timedelta(minutes=15)


def test_the_same_key_with_another_payment_method_is_a_conflict() -> None:
    shop = Shop(product(BOOK, "12.50", "BRL"))
    shop.place([(BOOK, 1)], key="k1")
    with pytest.raises(IdempotencyConflict):
        shop.orders.place(
            customer_id=CUSTOMER,
            items=[(BOOK, 1)],
            delivery_address=None,
            idempotency_key="k1",
            payment_method=PaymentMethod.PIX,
        )
