"""The consumed events on the in-memory fakes, delivered the way the inbox consumer would: every
line or none, each reservation settled once whatever arrives after, duplicates and late events
changing nothing, and stock conserved through any mix of orders and admin adjustments.
Milliseconds, no database."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from contracts.events import (
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderLine,
    OrderRejected,
    StockCommitted,
    StockReleased,
    StockReservationFailed,
    StockReserved,
)
from product_service.adapters.memory import InMemoryProductUnitOfWork, ProductStore
from product_service.application import commands, handlers
from product_service.consumers import SUBSCRIPTIONS
from product_service.domain.product import ProductChanges, Stock
from product_service.domain.reservation import ReservationStatus
from servicekit.messaging.envelope import Envelope, Event
from servicekit.messaging.unit_of_work import Cause

DEADLINE = datetime(2030, 1, 1, tzinfo=UTC)
CUSTOMER = str(uuid.uuid4())


class Stockroom:
    """A fake store with products, fed consumed events one unit of work each."""

    def __init__(self) -> None:
        self.store = ProductStore()
        self.published: list[Event] = []
        self.uows: list[InMemoryProductUnitOfWork] = []

    def unit_of_work(self, causation: str | None = None) -> InMemoryProductUnitOfWork:
        uow = InMemoryProductUnitOfWork(self.store, Cause("corr", causation))
        self.uows.append(uow)
        return uow

    def add_product(self, stock: int, price: str = "10.00", currency: str = "EUR") -> str:
        command = commands.CreateProduct(
            sku=f"SKU-{uuid.uuid4().hex[:8]}",
            name="Product",
            description=None,
            price=Decimal(price),
            currency=currency,
            stock=stock,
        )
        with self.unit_of_work() as uow:
            return commands.create_product(command, uow).product_id

    def set_stock(self, product_id: str, available: int) -> None:
        command = commands.UpdateProduct(product_id, ProductChanges(stock=available), "admin")
        with self.unit_of_work() as uow:
            commands.update_product(command, uow)

    def created(
        self, lines: list[tuple[str, int]], order_id: str | None = None, method: str = "card"
    ) -> str:
        event = OrderCreated(
            order_id=order_id or str(uuid.uuid4()),
            customer_id=CUSTOMER,
            items=[OrderLine(product_id=pid, quantity=qty) for pid, qty in lines],
            currency="EUR",
            deadline_at=DEADLINE,
            payment_method=method,
        )
        with self.unit_of_work(str(uuid.uuid4())) as uow:
            handlers.on_order_created(event, uow)
        self._keep(uow)
        return event.order_id

    def confirmed(self, order_id: str) -> None:
        event = OrderConfirmed(
            order_id=order_id, customer_id=CUSTOMER, items=[], total="0.00", currency="EUR"
        )
        with self.unit_of_work(str(uuid.uuid4())) as uow:
            handlers.on_order_confirmed(event, uow)
        self._keep(uow)

    def cancelled(self, order_id: str, reason: str = "customer asked") -> None:
        event = OrderCancelled(order_id=order_id, customer_id=CUSTOMER, reason=reason)
        with self.unit_of_work(str(uuid.uuid4())) as uow:
            handlers.on_order_cancelled(event, uow)
        self._keep(uow)

    def rejected(self, order_id: str, reason: str = "payment declined") -> None:
        event = OrderRejected(order_id=order_id, customer_id=CUSTOMER, reason=reason)
        with self.unit_of_work(str(uuid.uuid4())) as uow:
            handlers.on_order_rejected(event, uow)
        self._keep(uow)

    def _keep(self, uow: InMemoryProductUnitOfWork) -> None:
        self.published.extend(uow.events())

    def stock(self, product_id: str) -> Stock:
        return self.store.products[product_id].stock

    def status(self, order_id: str) -> ReservationStatus | None:
        held = self.store.reservations.get(order_id)
        return held.status if held is not None else None

    def emitted(self, order_id: str | None = None) -> list[str]:
        return [
            e.event_type for e in self.published if order_id is None or e.aggregate_id == order_id
        ]

    def assert_conserved(self) -> None:
        """Every product's counters conserved, reserved = held lines, sold = committed lines."""
        for product_id, product in self.store.products.items():
            lines = [
                (r.status, line.quantity)
                for r in self.store.reservations.values()
                for line in r.lines
                if line.product_id == product_id
            ]
            assert product.stock.conserved, product.stock
            held = sum(q for status, q in lines if status == ReservationStatus.RESERVED)
            sold = sum(q for status, q in lines if status == ReservationStatus.COMMITTED)
            assert (product.stock.reserved, product.stock.sold) == (held, sold)


def test_every_line_is_reserved_at_its_price() -> None:
    room = Stockroom()
    a, b = room.add_product(10, "19.99"), room.add_product(5, "5.5")
    order_id = room.created([(a, 2), (b, 3), (a, 1)])
    assert room.stock(a) == Stock(initial=10, available=7, reserved=3)
    assert room.stock(b) == Stock(initial=5, available=2, reserved=3)
    (reserved,) = room.published
    assert isinstance(reserved, StockReserved)
    assert reserved.total == "76.47"
    assert reserved.payment_method == "card"
    assert room.status(order_id) == ReservationStatus.RESERVED
    room.assert_conserved()


def test_stock_reserved_passes_the_orders_payment_method_on() -> None:
    room = Stockroom()
    product = room.add_product(3)
    room.created([(product, 1)], method="pix")
    (reserved,) = room.published
    assert isinstance(reserved, StockReserved)
    assert reserved.payment_method == "pix"


def test_one_short_line_reserves_nothing() -> None:
    room = Stockroom()
    a, b = room.add_product(10), room.add_product(2)
    order_id = room.created([(a, 4), (b, 3)])
    assert room.stock(a) == Stock.opening(10) and room.stock(b) == Stock.opening(2)
    (failed,) = room.published
    assert isinstance(failed, StockReservationFailed)
    assert failed.reason == f"insufficient stock for product {b}: requested 3, available 2"
    assert room.status(order_id) == ReservationStatus.FAILED
    room.assert_conserved()


def test_unknown_and_malformed_products_are_refused_by_name() -> None:
    room = Stockroom()
    a = room.add_product(10)
    unknown = str(uuid.uuid4())
    room.created([(a, 1), (unknown, 1), ("not-a-uuid", 1)])
    (failed,) = room.published
    assert isinstance(failed, StockReservationFailed)
    assert failed.reason == f"unknown product: {', '.join(sorted([unknown, 'not-a-uuid']))}"
    assert room.stock(a).available == 10


def test_a_product_id_in_another_spelling_is_the_same_product() -> None:
    room = Stockroom()
    a = room.add_product(10)
    room.created([(a.upper(), 2)])
    assert room.stock(a).reserved == 2


def test_order_created_twice_reserves_once() -> None:
    room = Stockroom()
    a = room.add_product(10)
    order_id = room.created([(a, 4)])
    room.created([(a, 4)], order_id=order_id)  # announced again, under a new event id
    assert room.stock(a).reserved == 4
    assert room.emitted(order_id) == ["stock.reserved"]


@pytest.mark.parametrize("end", ["cancelled", "rejected"])
def test_release_gives_units_back_once_and_nothing_follows(end: str) -> None:
    room = Stockroom()
    a, b = room.add_product(10), room.add_product(10)
    order_id = room.created([(a, 3), (b, 1)])
    getattr(room, end)(order_id)
    # Duplicates and late events for the released reservation change nothing.
    room.cancelled(order_id)
    room.rejected(order_id)
    room.confirmed(order_id)
    assert room.stock(a) == Stock.opening(10) and room.stock(b) == Stock.opening(10)
    assert room.emitted(order_id) == ["stock.reserved", "stock.released"]
    released = room.published[-1]
    assert isinstance(released, StockReleased)
    assert released.reason == (
        "order cancelled: customer asked"
        if end == "cancelled"
        else "order rejected: payment declined"
    )
    assert room.status(order_id) == ReservationStatus.RELEASED
    room.assert_conserved()


def test_commit_sells_once_and_a_release_after_it_is_a_no_op() -> None:
    room = Stockroom()
    a = room.add_product(10)
    order_id = room.created([(a, 6)])
    room.confirmed(order_id)
    room.confirmed(order_id)
    room.cancelled(order_id)
    room.rejected(order_id)
    assert room.stock(a) == Stock(initial=10, available=4, sold=6)
    assert room.emitted(order_id) == ["stock.reserved", "stock.committed"]
    assert isinstance(room.published[-1], StockCommitted)
    assert room.status(order_id) == ReservationStatus.COMMITTED
    room.assert_conserved()


def test_a_late_order_created_after_the_cancellation_reserves_nothing() -> None:
    room = Stockroom()
    a = room.add_product(5)
    order_id = room.created([(a, 2)])
    room.cancelled(order_id, reason="saga timed out")
    room.created([(a, 2)], order_id=order_id)  # order.created again, after the cancellation
    assert room.stock(a) == Stock.opening(5)
    assert room.emitted(order_id) == ["stock.reserved", "stock.released"]
    room.assert_conserved()


def test_a_reservation_made_after_the_order_was_cancelled_upstream_is_released() -> None:
    """order_service cancels on its deadline before product_service got to order.created: the
    reservation is made late, and order.cancelled, which follows order.created on the order's
    partition, releases it."""
    room = Stockroom()
    a = room.add_product(5)
    order_id = room.created([(a, 5)])
    assert room.stock(a).reserved == 5
    room.cancelled(order_id, reason="saga timed out")
    assert room.stock(a) == Stock.opening(5)
    room.assert_conserved()


def test_nothing_to_settle_without_a_held_reservation() -> None:
    room = Stockroom()
    a = room.add_product(1)
    failed_id = room.created([(a, 2)])
    never_seen = str(uuid.uuid4())
    room.confirmed(never_seen)
    room.rejected(failed_id)
    room.cancelled(failed_id)
    assert room.status(never_seen) is None
    assert room.status(failed_id) == ReservationStatus.FAILED
    assert room.emitted() == ["stock.reservation_failed"]
    assert room.stock(a) == Stock.opening(1)


@pytest.mark.parametrize("end", ["cancelled", "rejected"])
def test_an_order_created_after_its_order_ended_reserves_nothing(end: str) -> None:
    """order.created dead-lettered here while the saga timed out: the cancellation comes first
    and voids the order, so the order.created replayed from the dead letter topic later holds
    no stock for an order that is over (it would never be released)."""
    room = Stockroom()
    a = room.add_product(5)
    order_id = str(uuid.uuid4())
    getattr(room, end)(order_id)
    assert room.status(order_id) == ReservationStatus.VOIDED
    room.created([(a, 2)], order_id=order_id)
    room.confirmed(order_id)
    room.cancelled(order_id)
    assert room.status(order_id) == ReservationStatus.VOIDED
    assert room.stock(a) == Stock.opening(5)
    assert room.emitted() == []
    room.assert_conserved()


def test_settling_an_order_id_that_is_no_uuid_locks_and_changes_nothing() -> None:
    room = Stockroom()
    room.cancelled("not-a-uuid")
    assert room.uows[-1].locks == [] and room.emitted() == []


def test_an_order_created_without_a_uuid_is_poison() -> None:
    room = Stockroom()
    a = room.add_product(1)
    with pytest.raises(ValueError):
        room.created([(a, 1)], order_id="not-a-uuid")
    assert room.store.reservations == {} and room.emitted() == []


def test_handlers_lock_exactly_what_the_inbox_batch_locks() -> None:
    """The consumer takes the batch's locks up front (batch_locks) and then refuses any other:
    each handler must lock its order's reservation and nothing else."""
    room = Stockroom()
    a = room.add_product(5)
    order_id = room.created([(a, 1)])
    room.confirmed(order_id)
    assert SUBSCRIPTIONS.batch_locks is not None
    message = Envelope("order.confirmed", "order", order_id, {"order_id": order_id})
    expected = SUBSCRIPTIONS.batch_locks(message)
    assert expected == [("stock_reservation", order_id)]
    # (A repository may ask again for a lock its unit of work holds: that takes nothing more.)
    assert [sorted(set(uow.locks)) for uow in room.uows[-2:]] == [expected, expected]


def test_stock_is_conserved_through_any_mix_of_orders_and_adjustments() -> None:
    rng = random.Random(12)
    room = Stockroom()
    products = [room.add_product(rng.randint(0, 20)) for _ in range(4)]
    orders: list[str] = []
    for _ in range(400):
        action = rng.random()
        if action < 0.45 or not orders:
            lines = rng.sample(products, rng.randint(1, 3))
            orders.append(room.created([(pid, rng.randint(1, 6)) for pid in lines]))
        elif action < 0.6:
            room.confirmed(rng.choice(orders))
        elif action < 0.75:
            room.cancelled(rng.choice(orders))
        elif action < 0.85:
            room.rejected(rng.choice(orders))
        elif action < 0.95:
            room.created([(rng.choice(products), 1)], order_id=rng.choice(orders))
        else:
            room.set_stock(rng.choice(products), rng.randint(0, 30))
        room.assert_conserved()
    kinds = room.emitted()
    # Each order reserved or failed exactly once, and was settled at most once.
    assert kinds.count("stock.reserved") + kinds.count("stock.reservation_failed") == len(orders)
    settled = kinds.count("stock.committed") + kinds.count("stock.released")
    assert settled <= kinds.count("stock.reserved")
    assert all(room.stock(pid).available >= 0 for pid in products)
