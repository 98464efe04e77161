"""Fulfilment on the fakes: after CONFIRMED only, forward one step at a time, staff and admins
only (checked by the command, before anything is loaded), each step an event naming who took
it and a timeline entry; then the order is final."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from contracts.events import (
    OrderDelivered,
    OrderPreparing,
    OrderShipped,
    PaymentAuthorized,
    PricedLine,
    StockReservationFailed,
    StockReserved,
)
from order_service.adapters.memory import InMemoryOrderUnitOfWork, OrderStore
from order_service.application import handlers
from order_service.application.commands import (
    AdvanceFulfilment,
    CancelOrder,
    advance_fulfilment,
    cancel_order,
)
from order_service.domain.errors import CannotCancel, FulfilmentNotAllowed, StaffOnly
from order_service.domain.model import Order
from order_service.domain.statuses import FulfilmentStatus, OrderStatus
from servicekit.messaging.unit_of_work import Cause
from servicekit.tokens import Principal

CUSTOMER = str(uuid.uuid4())
PRODUCT = str(uuid.uuid4())
STAFF = Principal(str(uuid.uuid4()), frozenset({"staff"}))
ADMIN = Principal(str(uuid.uuid4()), frozenset({"admin"}))
PREPARING, SHIPPED, DELIVERED = (
    FulfilmentStatus.PREPARING,
    FulfilmentStatus.SHIPPED,
    FulfilmentStatus.DELIVERED,
)


class Shop:
    """One order in a fake store, taken as far as a test needs."""

    def __init__(self) -> None:
        self.store = OrderStore()
        self.order_id = str(uuid.uuid4())
        self.uows: list[InMemoryOrderUnitOfWork] = []
        order = Order.place(
            order_id=self.order_id,
            customer_id=CUSTOMER,
            items=[(PRODUCT, 1)],
            prices={PRODUCT: (Decimal("10.00"), "EUR")},
            deadline_at=datetime.now(UTC) + timedelta(minutes=5),
        )
        with self.unit_of_work() as uow:
            uow.orders.add(order, idempotency_key=None, fingerprint="f")

    def unit_of_work(self) -> InMemoryOrderUnitOfWork:
        uow = InMemoryOrderUnitOfWork(self.store, Cause("corr"))
        self.uows.append(uow)
        return uow

    def confirm(self) -> Shop:
        reserved = StockReserved(
            order_id=self.order_id,
            customer_id=CUSTOMER,
            items=[PricedLine(product_id=PRODUCT, quantity=1, unit_price="10.00")],
            total="10.00",
            currency="EUR",
            deadline_at=datetime.now(UTC) + timedelta(minutes=5),
        )
        authorized = PaymentAuthorized(
            order_id=self.order_id,
            payment_id="p",
            customer_id=CUSTOMER,
            amount="10.00",
            currency="EUR",
        )
        with self.unit_of_work() as uow:
            handlers.on_stock_reserved(reserved, uow)
        with self.unit_of_work() as uow:
            handlers.on_payment_authorized(authorized, uow)
        assert self.order.status == OrderStatus.CONFIRMED
        return self

    def step(self, status: FulfilmentStatus, by: Principal = STAFF) -> Order | None:
        with self.unit_of_work() as uow:
            return advance_fulfilment(AdvanceFulfilment(self.order_id, status, by), uow)

    @property
    def order(self) -> Order:
        return self.store.orders[self.order_id]

    def published(self) -> list[object]:
        return [event for uow in self.uows for event in uow.events()]


def test_a_confirmed_order_goes_forward_one_step_at_a_time_to_delivered() -> None:
    shop = Shop().confirm()
    assert shop.order.fulfilment == FulfilmentStatus.NOT_STARTED
    assert shop.order.fulfilment_updated_at is None
    for status, by in ((PREPARING, STAFF), (SHIPPED, ADMIN), (DELIVERED, STAFF)):
        before = datetime.now(UTC)
        changed = shop.step(status, by)
        assert changed is not None and changed.fulfilment == status
        assert shop.order.fulfilment == status
        assert shop.order.fulfilment_updated_at is not None
        assert shop.order.fulfilment_updated_at >= before
    steps = [e for e in shop.published() if isinstance(e, OrderPreparing | OrderShipped)]
    steps += [e for e in shop.published() if isinstance(e, OrderDelivered)]
    assert [(type(e), e.fulfilment_status, e.changed_by) for e in steps] == [
        (OrderPreparing, "PREPARING", STAFF.user_id),
        (OrderShipped, "SHIPPED", ADMIN.user_id),
        (OrderDelivered, "DELIVERED", STAFF.user_id),
    ]
    assert all(e.order_id == shop.order_id and e.customer_id == CUSTOMER for e in steps)
    assert shop.order.final
    assert shop.order.status == OrderStatus.CONFIRMED  # the saga's outcome is unchanged


def test_each_step_is_a_timeline_entry_in_words() -> None:
    shop = Shop().confirm()
    for status in (PREPARING, SHIPPED, DELIVERED):
        shop.step(status)
    tail = [(s["event_type"], s["step"], s["service"]) for s in shop.store.timeline][-3:]
    assert tail == [
        ("order.preparing", "preparing the order", "order_service"),
        ("order.shipped", "order shipped", "order_service"),
        ("order.delivered", "order delivered", "order_service"),
    ]


@pytest.mark.parametrize(
    ("done", "refused"),
    [
        ([], SHIPPED),  # skipping a step
        ([], DELIVERED),
        ([PREPARING], DELIVERED),
        ([PREPARING], PREPARING),  # the same step twice
        ([PREPARING, SHIPPED], PREPARING),  # backwards
        ([PREPARING, SHIPPED, DELIVERED], DELIVERED),  # after the end
        ([PREPARING, SHIPPED, DELIVERED], SHIPPED),
        ([], FulfilmentStatus.NOT_STARTED),  # not a step at all
        ([PREPARING], FulfilmentStatus.NOT_STARTED),
    ],
)
def test_any_step_but_the_next_is_refused_and_changes_nothing(
    done: list[FulfilmentStatus], refused: FulfilmentStatus
) -> None:
    shop = Shop().confirm()
    for status in done:
        shop.step(status)
    before = (shop.order.fulfilment, shop.order.fulfilment_updated_at, len(shop.published()))
    timeline = len(shop.store.timeline)
    with pytest.raises(FulfilmentNotAllowed):
        shop.step(refused)
    assert (shop.order.fulfilment, shop.order.fulfilment_updated_at) == before[:2]
    assert len(shop.published()) == before[2] and len(shop.store.timeline) == timeline


def test_the_refusal_names_the_next_step() -> None:
    shop = Shop().confirm()
    with pytest.raises(FulfilmentNotAllowed, match="next step is PREPARING, not SHIPPED"):
        shop.step(SHIPPED)


@pytest.mark.parametrize("state", ["PENDING", "STOCK_RESERVED", "REJECTED", "CANCELLED"])
def test_only_a_confirmed_order_is_fulfilled(state: str) -> None:
    shop = Shop()
    if state == "STOCK_RESERVED":
        with shop.unit_of_work() as uow:
            handlers.on_stock_reserved(
                StockReserved(
                    order_id=shop.order_id,
                    customer_id=CUSTOMER,
                    items=[PricedLine(product_id=PRODUCT, quantity=1, unit_price="10.00")],
                    total="10.00",
                    currency="EUR",
                    deadline_at=datetime.now(UTC) + timedelta(minutes=5),
                ),
                uow,
            )
    elif state == "REJECTED":
        with shop.unit_of_work() as uow:
            handlers.on_stock_reservation_failed(
                StockReservationFailed(order_id=shop.order_id, customer_id=CUSTOMER, reason="x"),
                uow,
            )
    elif state == "CANCELLED":
        with shop.unit_of_work() as uow:
            cancel_order(CancelOrder(shop.order_id), uow)
    assert shop.order.status == state
    with pytest.raises(FulfilmentNotAllowed, match=f"order is {state}"):
        shop.step(PREPARING)
    assert shop.order.fulfilment == FulfilmentStatus.NOT_STARTED


@pytest.mark.parametrize(
    "roles", [frozenset({"customer"}), frozenset({"guest"}), frozenset()], ids=str
)
def test_customers_and_guests_are_refused_before_anything_is_loaded(
    roles: frozenset[str],
) -> None:
    shop = Shop().confirm()
    uow = shop.unit_of_work()
    with pytest.raises(StaffOnly), uow:
        advance_fulfilment(
            AdvanceFulfilment(shop.order_id, PREPARING, Principal(CUSTOMER, roles)), uow
        )
    assert uow.locks == []  # refused by the command, not by the order
    assert shop.order.fulfilment == FulfilmentStatus.NOT_STARTED


def test_a_step_locks_its_order_and_an_unknown_order_is_none() -> None:
    shop = Shop().confirm()
    uow = shop.unit_of_work()
    with uow:
        advance_fulfilment(AdvanceFulfilment(shop.order_id, PREPARING, STAFF), uow)
    assert uow.locks == [("order", shop.order_id)]
    unknown = str(uuid.uuid4())
    with shop.unit_of_work() as other:
        assert advance_fulfilment(AdvanceFulfilment(unknown, SHIPPED, STAFF), other) is None


def test_a_shipped_order_still_cannot_be_cancelled() -> None:
    shop = Shop().confirm()
    shop.step(PREPARING)
    shop.step(SHIPPED)
    with pytest.raises(CannotCancel), shop.unit_of_work() as uow:
        cancel_order(CancelOrder(shop.order_id), uow)
    assert shop.order.fulfilment == SHIPPED and not shop.order.final
