"""One contract for the product repositories, run against PostgreSQL (adapters/repository.py)
and against the in-memory fakes (adapters/memory.py) the unit tests rely on: if the fakes drift
from the database's behaviour, this fails."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from product_service.adapters.memory import InMemoryProductUnitOfWork, ProductStore
from product_service.adapters.repository import SqlProductUnitOfWork
from product_service.application.ports import ProductUnitOfWork
from product_service.domain.category import Category, CategoryChanges
from product_service.domain.errors import SkuTaken, SlugTaken, UnknownCategory
from product_service.domain.product import Product, ProductChanges, Stock
from product_service.domain.reservation import (
    Reservation,
    ReservationStatus,
    ReservedLine,
    StockLevel,
)
from servicekit.db import queue_statements
from servicekit.messaging.unit_of_work import Cause, transaction
from tests.support import scratch_database, sqlalchemy_url

pytestmark = pytest.mark.integration

UnitOfWork = Callable[[], AbstractContextManager[ProductUnitOfWork]]
DEADLINE = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
CUSTOMER = str(uuid.uuid4())


class Harness:
    """Units of work on one store, and what the store holds, read behind the repositories."""

    def __init__(
        self,
        unit_of_work: UnitOfWork,
        stock: Callable[[str], Stock],
        adjustments: Callable[[str], list[tuple[int, int, str, str | None]]],
    ) -> None:
        self.unit_of_work = unit_of_work
        self.stock = stock
        self.adjustments = adjustments


@pytest.fixture(params=["postgresql", "memory"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "memory":
        store = ProductStore()
        yield Harness(
            lambda: InMemoryProductUnitOfWork(store, Cause("corr")),
            lambda product_id: store.products[product_id].stock,
            lambda product_id: [
                (a.delta, a.available, a.adjusted_by, a.correlation_id)
                for a in store.adjustments
                if a.product_id == product_id
            ],
        )
        return
    request.getfixturevalue("engines")
    with scratch_database("product_contract", migrations="product_service") as url:
        engine = create_engine(sqlalchemy_url(url))
        # As the service's Database: writes nobody reads travel with the next statement.
        queue_statements(engine)
        sessions = sessionmaker(engine, expire_on_commit=False)

        def stock(product_id: str) -> Stock:
            with engine.connect() as conn:
                row = conn.execute(
                    text(
                        "SELECT stock_initial, stock_available, stock_adjusted, stock_reserved,"
                        " stock_sold FROM products WHERE product_id = :p"
                    ),
                    {"p": product_id},
                ).one()
            return Stock(*(int(value) for value in row))

        def adjustments(product_id: str) -> list[tuple[int, int, str, str | None]]:
            with engine.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT delta, stock_available, adjusted_by, correlation_id"
                        " FROM stock_adjustments WHERE product_id = :p ORDER BY adjustment_id"
                    ),
                    {"p": product_id},
                )
                return [(int(d), int(a), by, c) for d, a, by, c in rows]

        def build(session: Session) -> SqlProductUnitOfWork:
            return SqlProductUnitOfWork(session, cause=Cause("corr"))

        yield Harness(lambda: transaction(sessions, build), stock, adjustments)
        engine.dispose()


def product(
    stock: int = 10, price: str = "10.00", sku: str | None = None, category_id: str | None = None
) -> Product:
    return Product.create(
        product_id=str(uuid.uuid4()),
        sku=sku or f"SKU-{uuid.uuid4().hex[:10]}",
        name="Cup",
        description="80 ml",
        price=Decimal(price),
        currency="EUR",
        stock=stock,
        category_id=category_id,
    )


def category(slug: str | None = None) -> Category:
    return Category.create(
        category_id=str(uuid.uuid4()),
        name="Bebidas Quentes",
        slug=slug or f"bebidas-{uuid.uuid4().hex[:10]}",
        description="café, chá",
    )


def added_category(harness: Harness, new: Category | None = None) -> str:
    new = new or category()
    with harness.unit_of_work() as uow:
        uow.categories.add(new)
    return new.category_id


def archive(harness: Harness, product_id: str, at: datetime) -> None:
    with harness.unit_of_work() as uow:
        loaded = uow.products.get_for_update(product_id)
        assert loaded is not None and loaded.archive(at)
        uow.products.save(loaded)


def added(harness: Harness, *products: Product) -> list[str]:
    with harness.unit_of_work() as uow:
        for item in products:
            uow.products.add(item)
    return [item.product_id for item in products]


def reserve(
    harness: Harness, order_id: str, requested: dict[str, int]
) -> tuple[list[StockLevel] | None, Reservation | None]:
    """stock_to_reserve, then add what the rules make of it (when there is no reservation)."""
    with harness.unit_of_work() as uow:
        levels = uow.reservations.stock_to_reserve(order_id, sorted(requested))
        if levels is None:
            return None, None
        reservation = Reservation.reserve(
            order_id=order_id,
            customer_id=CUSTOMER,
            currency="EUR",
            deadline_at=DEADLINE,
            requested=requested,
            stock={level.product_id: level for level in levels},
        )
        uow.reservations.add(reservation)
    return levels, reservation


# -- products ----------------------------------------------------------------------------------


def test_an_added_product_loads_back_as_it_was(harness: Harness) -> None:
    (product_id,) = added(harness, product(stock=25, price="19.90"))
    with harness.unit_of_work() as uow:
        loaded = uow.products.get_for_update(product_id)
        assert loaded is not None
        assert (loaded.sku[:4], loaded.name, loaded.description) == ("SKU-", "Cup", "80 ml")
        assert (loaded.price, loaded.currency, loaded.stock) == (
            Decimal("19.90"),
            "EUR",
            Stock.opening(25),
        )
        assert loaded.events == [] and loaded.adjustments == []
        assert uow.products.get_for_update(str(uuid.uuid4())) is None


def test_a_sku_is_taken_whatever_its_case(harness: Harness) -> None:
    sku = f"Mug-{uuid.uuid4().hex[:8]}"
    added(harness, product(sku=sku))
    with pytest.raises(SkuTaken), harness.unit_of_work() as uow:
        uow.products.add(product(sku=sku.upper()))


def test_a_rolled_back_unit_of_work_leaves_nothing(harness: Harness) -> None:
    new = product()
    with pytest.raises(RuntimeError), harness.unit_of_work() as uow:
        uow.products.add(new)
        raise RuntimeError("the use case failed")
    with harness.unit_of_work() as uow:
        assert uow.products.get_for_update(new.product_id) is None


def test_saved_changes_and_adjustments_persist(harness: Harness) -> None:
    (product_id,) = added(harness, product(stock=10))
    with harness.unit_of_work() as uow:
        loaded = uow.products.get_for_update(product_id)
        assert loaded is not None
        loaded.change(
            ProductChanges(name="Mug", description=None, price=Decimal("2.5"), stock=4),
            actor="admin-1",
        )
        uow.products.save(loaded)
    with harness.unit_of_work() as uow:
        again = uow.products.get_for_update(product_id)
        assert again is not None
        assert (again.name, again.description, again.price) == ("Mug", None, Decimal("2.50"))
    assert harness.stock(product_id) == Stock(initial=10, available=4, adjusted=-6)
    assert harness.adjustments(product_id) == [(-6, 4, "admin-1", "corr")]


def test_a_product_keeps_its_category_and_its_archive(harness: Harness) -> None:
    category_id = added_category(harness)
    (product_id,) = added(harness, product(category_id=category_id))
    with harness.unit_of_work() as uow:
        loaded = uow.products.get_for_update(product_id)
        assert loaded is not None
        assert (loaded.category_id, loaded.archived_at, loaded.archived) == (
            category_id,
            None,
            False,
        )
    moment = datetime(2030, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
    archive(harness, product_id, moment)
    with harness.unit_of_work() as uow:
        loaded = uow.products.get_for_update(product_id)
        assert loaded is not None
        assert (loaded.category_id, loaded.archived_at) == (category_id, moment)
        loaded.change(ProductChanges(category_id=None), actor="admin-1")
        uow.products.save(loaded)
    with harness.unit_of_work() as uow:
        again = uow.products.get_for_update(product_id)
        assert again is not None and again.category_id is None and again.archived_at == moment


def test_a_product_joins_only_a_category_that_exists(harness: Harness) -> None:
    ghost = str(uuid.uuid4())
    stray = product(category_id=ghost)
    with pytest.raises(UnknownCategory, match=ghost), harness.unit_of_work() as uow:
        uow.products.add(stray)
    category_id = added_category(harness)
    (product_id,) = added(harness, product(category_id=category_id))
    with pytest.raises(UnknownCategory), harness.unit_of_work() as uow:
        loaded = uow.products.get_for_update(product_id)
        assert loaded is not None
        loaded.change(ProductChanges(category_id=ghost), actor="admin-1")
        uow.products.save(loaded)
    with harness.unit_of_work() as uow:
        assert uow.products.get_for_update(stray.product_id) is None
        kept = uow.products.get_for_update(product_id)
        assert kept is not None and kept.category_id == category_id


# -- categories --------------------------------------------------------------------------------


def test_an_added_category_loads_back_as_it_was(harness: Harness) -> None:
    new = category()
    category_id = added_category(harness, new)
    with harness.unit_of_work() as uow:
        loaded = uow.categories.get_for_update(category_id)
        assert loaded is not None
        assert (loaded.category_id, loaded.name, loaded.slug, loaded.description) == (
            category_id,
            "Bebidas Quentes",
            new.slug,
            "café, chá",
        )
        assert loaded.events == []
        assert uow.categories.get_for_update(str(uuid.uuid4())) is None


def test_a_slug_is_taken_once(harness: Harness) -> None:
    first = category()
    added_category(harness, first)
    with pytest.raises(SlugTaken, match=first.slug), harness.unit_of_work() as uow:
        uow.categories.add(category(slug=first.slug))


def test_category_changes_persist_and_a_removed_category_is_gone(harness: Harness) -> None:
    category_id = added_category(harness)
    with harness.unit_of_work() as uow:
        loaded = uow.categories.get_for_update(category_id)
        assert loaded is not None
        loaded.change(CategoryChanges(name="Bebidas", description=None))
        uow.categories.save(loaded)
    with harness.unit_of_work() as uow:
        again = uow.categories.get_for_update(category_id)
        assert again is not None and (again.name, again.description) == ("Bebidas", None)
        uow.categories.remove(again)
    with harness.unit_of_work() as uow:
        assert uow.categories.get_for_update(category_id) is None
    # Its slug is free again.
    added_category(harness, category(slug=again.slug))


def test_products_in_a_category_count_the_archived_ones(harness: Harness) -> None:
    category_id, other = added_category(harness), added_category(harness)
    _, archived, _ = added(
        harness,
        product(category_id=category_id),
        product(category_id=category_id),
        product(),
    )
    archive(harness, archived, datetime(2030, 1, 1, tzinfo=UTC))
    with harness.unit_of_work() as uow:
        assert uow.categories.products_in(category_id) == 2
        assert uow.categories.products_in(other) == 0
        assert uow.categories.products_in(str(uuid.uuid4())) == 0


# -- reservations ------------------------------------------------------------------------------


def test_stock_to_reserve_says_which_products_are_archived(harness: Harness) -> None:
    listed, archived = added(harness, product(stock=3), product(stock=4))
    archive(harness, archived, datetime(2030, 1, 1, tzinfo=UTC))
    with harness.unit_of_work() as uow:
        levels = uow.reservations.stock_to_reserve(str(uuid.uuid4()), sorted([listed, archived]))
        assert levels is not None
        assert {level.product_id: level.archived for level in levels} == {
            listed: False,
            archived: True,
        }


def test_stock_to_reserve_is_the_known_products_in_id_order(harness: Harness) -> None:
    cheap, dear = product(stock=3, price="1.50"), product(stock=7)
    a, b = added(harness, cheap, dear)
    unknown = str(uuid.uuid4())
    with harness.unit_of_work() as uow:
        levels = uow.reservations.stock_to_reserve(str(uuid.uuid4()), [b, unknown, a])
        assert levels == sorted(
            [StockLevel(a, Decimal("1.50"), "EUR", 3), StockLevel(b, Decimal("10.00"), "EUR", 7)],
            key=lambda level: level.product_id,
        )
        assert uow.reservations.stock_to_reserve(str(uuid.uuid4()), [unknown]) == []
        assert uow.reservations.stock_to_reserve(str(uuid.uuid4()), []) == []


def test_a_held_reservation_moves_stock_and_loads_back_with_its_lines(harness: Harness) -> None:
    a, b = added(harness, product(stock=10, price="19.99"), product(stock=5, price="5.50"))
    order_id = str(uuid.uuid4())
    _, made = reserve(harness, order_id, {a: 3, b: 3})
    assert made is not None and made.held
    assert harness.stock(a) == Stock(initial=10, available=7, reserved=3)
    assert harness.stock(b) == Stock(initial=5, available=2, reserved=3)
    with harness.unit_of_work() as uow:
        loaded = uow.reservations.get_for_update(order_id)
        assert loaded is not None
        assert (loaded.status, loaded.customer_id, loaded.currency) == (
            ReservationStatus.RESERVED,
            CUSTOMER,
            "EUR",
        )
        assert (loaded.total, loaded.deadline_at, loaded.failure_reason) == (
            Decimal("76.47"),
            DEADLINE,
            None,
        )
        assert loaded.lines == tuple(
            sorted(
                [ReservedLine(a, 3, Decimal("19.99")), ReservedLine(b, 3, Decimal("5.50"))],
                key=lambda line: line.product_id,
            )
        )
        assert loaded.events == []
        assert uow.reservations.get_for_update(str(uuid.uuid4())) is None


@pytest.mark.parametrize("held", [True, False], ids=["reserved", "failed"])
def test_an_order_with_a_reservation_gets_no_stock_to_reserve(harness: Harness, held: bool) -> None:
    (a,) = added(harness, product(stock=2))
    order_id = str(uuid.uuid4())
    reserve(harness, order_id, {a: 2 if held else 5})
    assert reserve(harness, order_id, {a: 1}) == (None, None)
    with harness.unit_of_work() as uow:
        assert uow.reservations.stock_to_reserve(order_id, []) is None


def test_a_failed_reservation_moves_nothing_and_says_why(harness: Harness) -> None:
    (a,) = added(harness, product(stock=2))
    order_id = str(uuid.uuid4())
    reserve(harness, order_id, {a: 5})
    assert harness.stock(a) == Stock.opening(2)
    with harness.unit_of_work() as uow:
        loaded = uow.reservations.get_for_update(order_id)
        assert loaded is not None
        assert (loaded.status, loaded.lines, loaded.total) == (ReservationStatus.FAILED, (), None)
        assert (
            loaded.failure_reason == f"insufficient stock for product {a}: requested 5, available 2"
        )


def test_a_voided_order_loads_back_holding_nothing_and_gets_no_stock_to_reserve(
    harness: Harness,
) -> None:
    (a,) = added(harness, product(stock=2))
    order_id = str(uuid.uuid4())
    with harness.unit_of_work() as uow:
        assert uow.reservations.get_for_update(order_id) is None
        uow.reservations.add(
            Reservation.void(order_id=order_id, customer_id=CUSTOMER, reason="order cancelled: x")
        )
    assert reserve(harness, order_id, {a: 1}) == (None, None)
    assert harness.stock(a) == Stock.opening(2)
    with harness.unit_of_work() as uow:
        loaded = uow.reservations.get_for_update(order_id)
        assert loaded is not None
        assert (loaded.status, loaded.customer_id, loaded.currency, loaded.deadline_at) == (
            ReservationStatus.VOIDED,
            CUSTOMER,
            None,
            None,
        )
        assert (loaded.lines, loaded.total, loaded.failure_reason) == (
            (),
            None,
            "order cancelled: x",
        )
        assert not loaded.commit() and not loaded.release("order rejected: y")


@pytest.mark.parametrize("outcome", ["commit", "release"])
def test_a_settled_reservation_moves_its_units_and_holds_nothing_after(
    harness: Harness, outcome: str
) -> None:
    a, b = sorted(added(harness, product(stock=10), product(stock=10)))
    order_id = str(uuid.uuid4())
    reserve(harness, order_id, {a: 3, b: 1})
    with harness.unit_of_work() as uow:
        held = uow.reservations.get_for_update(order_id)
        assert held is not None
        assert held.commit() if outcome == "commit" else held.release("order cancelled: x")
        uow.reservations.save(held)
    if outcome == "commit":
        assert harness.stock(a) == Stock(initial=10, available=7, sold=3)
        assert harness.stock(b) == Stock(initial=10, available=9, sold=1)
    else:
        assert harness.stock(a) == harness.stock(b) == Stock.opening(10)
    with harness.unit_of_work() as uow:
        settled = uow.reservations.get_for_update(order_id)
        assert settled is not None
        expected = (
            ReservationStatus.COMMITTED if outcome == "commit" else ReservationStatus.RELEASED
        )
        assert (settled.status, settled.lines, settled.total) == (expected, (), Decimal("40.00"))


def test_a_rolled_back_reservation_moves_nothing(harness: Harness) -> None:
    (a,) = added(harness, product(stock=4))
    order_id = str(uuid.uuid4())
    with pytest.raises(RuntimeError), harness.unit_of_work() as uow:
        levels = uow.reservations.stock_to_reserve(order_id, [a])
        assert levels is not None
        uow.reservations.add(
            Reservation.reserve(
                order_id=order_id,
                customer_id=CUSTOMER,
                currency="EUR",
                deadline_at=DEADLINE,
                requested={a: 4},
                stock={level.product_id: level for level in levels},
            )
        )
        raise RuntimeError("the handler failed")
    assert harness.stock(a) == Stock.opening(4)
    with harness.unit_of_work() as uow:
        assert uow.reservations.get_for_update(order_id) is None


def test_ids_are_compared_as_uuids(harness: Harness) -> None:
    (a,) = added(harness, product(stock=4))
    order_id = str(uuid.uuid4())
    reserve(harness, order_id, {a: 1})
    with harness.unit_of_work() as uow:
        assert uow.reservations.stock_to_reserve(order_id.upper(), [a.upper()]) is None
        loaded = uow.reservations.get_for_update(order_id.upper())
        assert loaded is not None and loaded.order_id == order_id.upper()
        assert uow.products.get_for_update(a.upper()) is not None
