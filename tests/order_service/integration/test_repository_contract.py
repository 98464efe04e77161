"""One contract for the order repositories, run against PostgreSQL (adapters/repository.py) and
against the in-memory fakes (adapters/memory.py) the unit tests rely on: if the fakes drift
from the database's behaviour, this fails."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

from contracts.events import (
    Address,
    CategoryCreated,
    CategoryUpdated,
    ProductCreated,
    ProductUpdated,
)
from order_service.adapters.memory import InMemoryOrderUnitOfWork, OrderStore
from order_service.adapters.repository import SqlOrderUnitOfWork
from order_service.application.ports import (
    CatalogProduct,
    Category,
    DuplicateIdempotencyKey,
    OrderUnitOfWork,
)
from order_service.domain.model import Line, Order
from order_service.domain.statuses import FulfilmentStatus, OrderStatus, PaymentMethod
from servicekit.db import queue_statements
from servicekit.messaging.unit_of_work import Cause, transaction
from tests.support import scratch_database, sqlalchemy_url

pytestmark = pytest.mark.integration

UnitOfWork = Callable[[], AbstractContextManager[OrderUnitOfWork]]
CUSTOMER = str(uuid.uuid4())
PRODUCT = str(uuid.uuid4())


class Harness:
    def __init__(self, unit_of_work: UnitOfWork, timeline: Callable[[str], list[str]]) -> None:
        self.unit_of_work = unit_of_work
        self.timeline = timeline


@pytest.fixture(params=["postgresql", "memory"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "memory":
        store = OrderStore()
        yield Harness(
            lambda: InMemoryOrderUnitOfWork(store, Cause("c")),
            lambda order_id: [s["event_type"] for s in store.timeline if s["order_id"] == order_id],
        )
        return
    request.getfixturevalue("engines")
    with scratch_database("order", migrations="order_service") as url:
        engine = create_engine(sqlalchemy_url(url))
        # As the service's Database: writes nobody reads travel with the next statement.
        queue_statements(engine)
        sessions = sessionmaker(engine, expire_on_commit=False)

        def timeline(order_id: str) -> list[str]:
            with engine.connect() as conn:
                rows = conn.execute(
                    text("SELECT event_type FROM order_timeline WHERE order_id = :o ORDER BY id"),
                    {"o": order_id},
                )
                return [row[0] for row in rows]

        yield Harness(lambda: transaction(sessions, SqlOrderUnitOfWork), timeline)
        engine.dispose()


def placed(deadline: datetime | None = None, price: str = "10.00") -> Order:
    return Order.place(
        order_id=str(uuid.uuid4()),
        customer_id=CUSTOMER,
        items=[(PRODUCT, 3)],
        prices={PRODUCT: (Decimal(price), "EUR")},
        deadline_at=deadline or datetime.now(UTC) + timedelta(minutes=5),
    )


def test_an_added_order_loads_back_as_it_was(harness: Harness) -> None:
    order = placed()
    with harness.unit_of_work() as uow:
        uow.orders.add(order, idempotency_key=None, fingerprint="f")
    with harness.unit_of_work() as uow:
        loaded = uow.orders.get_for_update(order.order_id)
        assert loaded is not None
        assert (loaded.status, loaded.currency, loaded.lines) == (
            OrderStatus.PENDING,
            "EUR",
            [Line(PRODUCT, 3, Decimal("10.00"))],
        )
        assert loaded.events == []
        assert uow.orders.get_for_update(str(uuid.uuid4())) is None
    assert harness.timeline(order.order_id) == ["order.created"]


def test_saved_changes_and_new_prices_persist(harness: Harness) -> None:
    order = placed()
    with harness.unit_of_work() as uow:
        uow.orders.add(order, idempotency_key=None, fingerprint="f")
    with harness.unit_of_work() as uow:
        loaded = uow.orders.get_for_update(order.order_id)
        assert loaded is not None
        loaded.stock_reserved([Line(PRODUCT, 3, Decimal("9.00"))])
        loaded.payment_authorized()
        uow.orders.save(loaded)
    with harness.unit_of_work() as uow:
        again = uow.orders.get_for_update(order.order_id)
        assert again is not None
        assert again.status == OrderStatus.CONFIRMED
        assert again.total == Decimal("27.00")
    assert harness.timeline(order.order_id) == ["order.created", "order.confirmed"]


def test_a_rolled_back_unit_of_work_leaves_nothing(harness: Harness) -> None:
    order = placed()
    with pytest.raises(RuntimeError), harness.unit_of_work() as uow:
        uow.orders.add(order, idempotency_key="k", fingerprint="f")
        raise RuntimeError("the use case failed")
    with harness.unit_of_work() as uow:
        assert uow.orders.get_for_update(order.order_id) is None
        assert uow.orders.by_idempotency_key(CUSTOMER, "k") is None
    assert harness.timeline(order.order_id) == []


def test_idempotency_keys_find_their_order_and_refuse_a_second(harness: Harness) -> None:
    first = placed()
    key = f"key-{uuid.uuid4()}"
    with harness.unit_of_work() as uow:
        uow.orders.add(first, idempotency_key=key, fingerprint="fp1")
    with harness.unit_of_work() as uow:
        found = uow.orders.by_idempotency_key(CUSTOMER, key)
        assert found is not None
        assert (found.order_id, found.status, found.fingerprint) == (
            first.order_id,
            "PENDING",
            "fp1",
        )
        assert uow.orders.by_idempotency_key(str(uuid.uuid4()), key) is None
        with pytest.raises(DuplicateIdempotencyKey):
            uow.orders.add(placed(), idempotency_key=key, fingerprint="fp2")


def test_only_open_orders_past_their_deadline_are_due(harness: Harness) -> None:
    late, early, finished = (
        placed(datetime.now(UTC) - timedelta(seconds=9)),
        placed(datetime.now(UTC) + timedelta(hours=1)),
        placed(datetime.now(UTC) - timedelta(seconds=5)),
    )
    with harness.unit_of_work() as uow:
        for order in (late, early, finished):
            uow.orders.add(order, idempotency_key=None, fingerprint="f")
    with harness.unit_of_work() as uow:
        done = uow.orders.get_for_update(finished.order_id)
        assert done is not None
        done.cancel()
        uow.orders.save(done)
    with harness.unit_of_work() as uow:
        due = uow.orders.due_for_timeout(100)
    assert late.order_id in due
    assert early.order_id not in due and finished.order_id not in due


def test_the_catalog_read_model_keeps_the_latest_price(harness: Harness) -> None:
    product_id = str(uuid.uuid4())
    fields: dict[str, Any] = {"product_id": product_id, "sku": "S", "name": "n", "currency": "BRL"}
    with harness.unit_of_work() as uow:
        uow.catalog.remember(ProductCreated(**fields, price="1.00"))
        uow.catalog.remember(ProductUpdated(**fields, price="2.50"))
    with harness.unit_of_work() as uow:
        known = uow.catalog.products([product_id, str(uuid.uuid4())])
        assert {pid: (p.price, p.currency) for pid, p in known.items()} == {
            product_id: (Decimal("2.50"), "BRL")
        }


ADDRESS = Address(
    street="Rua Augusta", number="12B", city="São Paulo", state="SP", country="BR",
    zipcode="01304-000",
)  # fmt: skip


def test_an_order_keeps_its_address_payment_method_and_correlation_id(harness: Harness) -> None:
    with_address = Order.place(
        order_id=str(uuid.uuid4()),
        customer_id=CUSTOMER,
        items=[(PRODUCT, 1)],
        prices={PRODUCT: (Decimal("1.00"), "EUR")},
        deadline_at=datetime.now(UTC) + timedelta(minutes=5),
        delivery_address=ADDRESS,
        payment_method=PaymentMethod.CARD,
        correlation_id="corr-7",
    )
    without = placed()
    with harness.unit_of_work() as uow:
        uow.orders.add(with_address, idempotency_key=None, fingerprint="f")
        uow.orders.add(without, idempotency_key=None, fingerprint="f")
    with harness.unit_of_work() as uow:
        loaded = uow.orders.get_for_update(with_address.order_id)
        plain = uow.orders.get_for_update(without.order_id)
    assert loaded is not None and plain is not None
    assert (loaded.delivery_address, loaded.payment_method, loaded.correlation_id) == (
        ADDRESS,
        PaymentMethod.CARD,
        "corr-7",
    )
    assert (plain.delivery_address, plain.correlation_id) == (None, None)
    assert (plain.fulfilment, plain.fulfilment_updated_at) == (FulfilmentStatus.NOT_STARTED, None)


def test_fulfilment_steps_persist_with_their_time_and_timeline(harness: Harness) -> None:
    order = placed()
    with harness.unit_of_work() as uow:
        uow.orders.add(order, idempotency_key=None, fingerprint="f")
    at = datetime.now(UTC).replace(microsecond=123456)
    with harness.unit_of_work() as uow:
        loaded = uow.orders.get_for_update(order.order_id)
        assert loaded is not None
        loaded.stock_reserved(list(loaded.lines))
        loaded.payment_authorized()
        loaded.start_preparing(changed_by="staff-1", at=at)
        uow.orders.save(loaded)
    with harness.unit_of_work() as uow:
        again = uow.orders.get_for_update(order.order_id)
        assert again is not None
        assert (again.status, again.fulfilment, again.fulfilment_updated_at) == (
            OrderStatus.CONFIRMED,
            FulfilmentStatus.PREPARING,
            at,
        )
        again.ship(changed_by="staff-1", at=at + timedelta(seconds=1))
        uow.orders.save(again)
    with harness.unit_of_work() as uow:
        shipped = uow.orders.get_for_update(order.order_id)
        assert shipped is not None and shipped.fulfilment == FulfilmentStatus.SHIPPED
    assert harness.timeline(order.order_id) == [
        "order.created",
        "order.confirmed",
        "order.preparing",
        "order.shipped",
    ]


def test_the_catalog_read_model_keeps_categories_and_archives(harness: Harness) -> None:
    mango, lime, stranger = (str(uuid.uuid4()) for _ in range(3))
    category = str(uuid.uuid4())

    def fields(product_id: str) -> dict[str, Any]:
        return {"product_id": product_id, "sku": "S", "name": "n", "currency": "BRL"}

    with harness.unit_of_work() as uow:
        uow.catalog.remember(ProductCreated(**fields(mango), price="1.00", category_id=category))
        uow.catalog.remember(ProductCreated(**fields(lime), price="2.00"))
        assert uow.catalog.archive(mango, datetime.now(UTC))
        assert not uow.catalog.archive(stranger, datetime.now(UTC))
        # An update after the archive (out of a retry, say) does not bring it back.
        uow.catalog.remember(ProductUpdated(**fields(mango), price="3.00", category_id=category))
    with harness.unit_of_work() as uow:
        known = uow.catalog.products([mango, lime, stranger])
    assert known == {
        mango: CatalogProduct(Decimal("3.00"), "BRL", category, archived=True),
        lime: CatalogProduct(Decimal("2.00"), "BRL", None, archived=False),
    }


def test_the_categories_read_model(harness: Harness) -> None:
    fruit, drinks = str(uuid.uuid4()), str(uuid.uuid4())
    with harness.unit_of_work() as uow:
        uow.categories.remember(CategoryCreated(category_id=fruit, name="Fruit", slug="fruit"))
        uow.categories.remember(CategoryCreated(category_id=drinks, name="Drinks", slug="drinks"))
        uow.categories.remember(
            CategoryUpdated(category_id=fruit, name="Fresh", slug="fruit", description="ripe")
        )
        uow.categories.forget(drinks)
        uow.categories.forget(str(uuid.uuid4()))  # unknown: nothing to do
    with harness.unit_of_work() as uow:
        assert uow.categories.get(fruit) == Category(fruit, "Fresh", "fruit", "ripe")
        assert uow.categories.get(drinks) is None
