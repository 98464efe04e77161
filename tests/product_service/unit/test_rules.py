"""The stock and reservation rules of the domain alone: planning every line or none, the
reservation's one-way moves and the events they record, stock counters that stay conserved, and
products announcing their changes. No unit of work, no database."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from contracts.events import (
    ProductCreated,
    ProductUpdated,
    StockCommitted,
    StockReleased,
    StockReservationFailed,
    StockReserved,
)
from product_service.domain.errors import StockRuleBroken
from product_service.domain.product import KEEP, Product, ProductChanges, Stock, StockAdjustment
from product_service.domain.reservation import (
    Reservation,
    ReservationRefused,
    ReservationStatus,
    ReservedLine,
    StockLevel,
    plan_reservation,
    requested_quantities,
)

A, B = sorted(str(uuid.uuid4()) for _ in range(2))
DEADLINE = datetime(2030, 1, 1, tzinfo=UTC)


def level(
    product_id: str, available: int, price: str = "10.00", currency: str = "EUR"
) -> StockLevel:
    return StockLevel(product_id, Decimal(price), currency, available)


# -- planning ----------------------------------------------------------------------------------


def test_lines_of_one_product_are_summed_and_sorted_by_product_id() -> None:
    assert list(requested_quantities([(B, 1), (A, 2), (B, 3)]).items()) == [(A, 2), (B, 4)]


def test_a_plan_holds_every_line_at_the_catalog_price() -> None:
    plan = plan_reservation(
        {A: 3, B: 3},
        {A: level(A, 10, "19.99"), B: level(B, 3, "5.50")},
        currency="EUR",
    )
    assert plan.lines == (
        ReservedLine(A, 3, Decimal("19.99")),
        ReservedLine(B, 3, Decimal("5.50")),
    )
    assert plan.total == Decimal("76.47")
    assert str(plan.total) == "76.47"


def test_one_short_line_refuses_the_whole_order() -> None:
    with pytest.raises(ReservationRefused) as refused:
        plan_reservation({A: 4, B: 3}, {A: level(A, 10), B: level(B, 2)}, currency="EUR")
    assert str(refused.value) == f"insufficient stock for product {B}: requested 3, available 2"


def test_every_reason_is_given_at_once() -> None:
    unknown = str(uuid.uuid4())
    with pytest.raises(ReservationRefused) as refused:
        plan_reservation(
            {A: 0, B: 1, unknown: 1},
            {A: level(A, 10), B: level(B, 5, currency="USD")},
            currency="EUR",
        )
    assert str(refused.value) == "; ".join(
        [
            f"quantity must be at least 1: {A} (0)",
            f"unknown product: {unknown}",
            f"currency mismatch for product {B}: priced in USD, order in EUR",
        ]
    )


def test_an_order_without_lines_reserves_nothing() -> None:
    with pytest.raises(ReservationRefused, match="order has no items"):
        plan_reservation({}, {}, currency="EUR")


def test_exactly_what_is_available_can_be_reserved() -> None:
    plan = plan_reservation({A: 5}, {A: level(A, 5)}, currency="EUR")
    assert plan.lines == (ReservedLine(A, 5, Decimal("10.00")),)


# -- the reservation ---------------------------------------------------------------------------


def reserve(requested: dict[str, int], stock: dict[str, StockLevel]) -> Reservation:
    return Reservation.reserve(
        order_id="o-1",
        customer_id="c-1",
        currency="EUR",
        deadline_at=DEADLINE,
        requested=requested,
        stock=stock,
    )


def test_a_reservation_that_holds_records_stock_reserved_with_its_prices() -> None:
    held = reserve({A: 2}, {A: level(A, 5, "2.50")})
    assert held.status == ReservationStatus.RESERVED and held.held
    assert held.total == Decimal("5.00")
    (event,) = held.events
    assert isinstance(event, StockReserved)
    assert event.aggregate_id == "o-1"
    assert [(i.product_id, i.quantity, i.unit_price) for i in event.items] == [(A, 2, "2.50")]
    assert (event.total, event.currency, event.deadline_at) == ("5.00", "EUR", DEADLINE)


def test_a_refused_reservation_holds_nothing_and_says_why() -> None:
    failed = reserve({A: 6}, {A: level(A, 5)})
    assert failed.status == ReservationStatus.FAILED and not failed.held
    assert failed.lines == () and failed.total is None
    (event,) = failed.events
    assert isinstance(event, StockReservationFailed)
    assert event.reason == failed.failure_reason
    assert failed.failure_reason == f"insufficient stock for product {A}: requested 6, available 5"


def test_commit_sells_once_and_nothing_is_released_after_it() -> None:
    held = reserve({A: 2}, {A: level(A, 5)})
    held.events.clear()
    assert held.commit()
    assert not held.commit()
    assert not held.release("too late")
    assert held.status == ReservationStatus.COMMITTED
    assert [type(event) for event in held.events] == [StockCommitted]


def test_release_gives_back_once_and_nothing_is_committed_after_it() -> None:
    held = reserve({A: 2, B: 1}, {A: level(A, 5), B: level(B, 1)})
    held.events.clear()
    assert held.release("order cancelled: x")
    assert not held.release("order rejected: y")
    assert not held.commit()
    assert held.status == ReservationStatus.RELEASED
    (released,) = held.events
    assert isinstance(released, StockReleased)
    assert released.reason == "order cancelled: x"
    assert [(i.product_id, i.quantity) for i in released.items] == [(A, 2), (B, 1)]


def test_a_failed_reservation_has_nothing_to_settle() -> None:
    failed = reserve({A: 9}, {A: level(A, 1)})
    failed.events.clear()
    assert not failed.commit() and not failed.release("x")
    assert failed.status == ReservationStatus.FAILED and failed.events == []


# -- stock counters ----------------------------------------------------------------------------


def test_every_move_keeps_stock_conserved() -> None:
    stock = Stock.opening(10)
    moves = [
        stock,
        stock := stock.reserve(4),
        stock := stock.commit(3),
        stock := stock.release(1),
        stock := stock.set_available(2),
    ]
    assert all(s.conserved for s in moves)
    assert stock == Stock(initial=10, available=2, adjusted=-5, reserved=0, sold=3)


def test_setting_available_stock_leaves_held_and_sold_units_alone() -> None:
    stock = Stock.opening(10).reserve(3).commit(1).set_available(20)
    assert (stock.available, stock.reserved, stock.sold, stock.adjusted) == (20, 2, 1, 13)


@pytest.mark.parametrize(
    "move",
    [
        lambda s: s.reserve(6),
        lambda s: s.commit(3),
        lambda s: s.release(3),
        lambda s: s.set_available(-1),
        lambda s: Stock.opening(-1),
    ],
    ids=["reserve-more-than-available", "commit-unheld", "release-unheld", "negative", "opening"],
)
def test_a_move_that_would_break_the_counters_is_refused(move: Callable[[Stock], Stock]) -> None:
    with pytest.raises(StockRuleBroken):
        move(Stock.opening(5).reserve(2))


# -- products ----------------------------------------------------------------------------------


def new_product() -> Product:
    return Product.create(
        product_id=A,
        sku="CUP-1",
        name="Cup",
        description="80 ml",
        price=Decimal("19.9"),
        currency="EUR",
        stock=25,
    )


def test_a_new_product_is_announced_at_a_price_in_cents() -> None:
    product = new_product()
    assert product.price == Decimal("19.90") and product.stock == Stock.opening(25)
    (created,) = product.events
    assert created == ProductCreated(
        product_id=A, sku="CUP-1", name="Cup", price="19.90", currency="EUR"
    )


def test_changes_are_announced_and_a_new_stock_is_an_adjustment() -> None:
    product = new_product()
    product.events.clear()
    product.change(
        ProductChanges(name="Blue cup", description=None, price=Decimal("21"), stock=4),
        actor="admin-1",
    )
    assert (product.name, product.description, product.price) == ("Blue cup", None, Decimal("21"))
    assert product.stock == Stock(initial=25, available=4, adjusted=-21)
    assert product.adjustments == [StockAdjustment(delta=-21, available=4, adjusted_by="admin-1")]
    (updated,) = product.events
    assert updated == ProductUpdated(
        product_id=A, sku="CUP-1", name="Blue cup", price="21.00", currency="EUR"
    )


def test_fields_left_out_are_kept_and_no_change_announces_nothing() -> None:
    product = new_product()
    product.events.clear()
    product.change(ProductChanges(), actor="admin-1")
    assert product.events == [] and product.adjustments == []
    product.change(ProductChanges(price=Decimal("5")), actor="admin-1")
    assert (product.name, product.description, product.stock.available) == ("Cup", "80 ml", 25)
    assert product.adjustments == []
    assert ProductChanges(price=Decimal("5"), stock=KEEP).given == ["price"]
