"""The order saga on the in-memory fakes: every consumed event in every order it can arrive,
delivered twice, and late after the order finished. Milliseconds, no database."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from contracts.events import (
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderRejected,
    PaymentAuthorized,
    PaymentAwaiting,
    PaymentDeclined,
    PaymentRefunded,
    PaymentVoided,
    PricedLine,
    StockCommitted,
    StockReleased,
    StockReservationFailed,
    StockReserved,
)
from order_service.adapters.memory import InMemoryOrderUnitOfWork, OrderStore
from order_service.application import handlers
from order_service.application.commands import CancelOrder, cancel_order, time_out
from order_service.domain.errors import CannotCancel
from order_service.domain.model import Line, Order
from order_service.domain.statuses import InventoryStatus, OrderStatus, PaymentStatus
from servicekit.messaging.envelope import Event
from servicekit.messaging.unit_of_work import Cause

CUSTOMER = str(uuid.uuid4())
PRODUCT = str(uuid.uuid4())
DEADLINE = datetime.now(UTC) + timedelta(minutes=5)

Handler = Callable[[Event, InMemoryOrderUnitOfWork], None]
HANDLERS: dict[type[Event], Handler] = {
    StockReserved: handlers.on_stock_reserved,  # type: ignore[dict-item]
    StockReservationFailed: handlers.on_stock_reservation_failed,  # type: ignore[dict-item]
    StockReleased: handlers.on_stock_released,  # type: ignore[dict-item]
    StockCommitted: handlers.on_stock_committed,  # type: ignore[dict-item]
    PaymentAuthorized: handlers.on_payment_authorized,  # type: ignore[dict-item]
    PaymentAwaiting: handlers.on_payment_awaiting,  # type: ignore[dict-item]
    PaymentDeclined: handlers.on_payment_declined,  # type: ignore[dict-item]
    PaymentRefunded: handlers.on_payment_refunded,  # type: ignore[dict-item]
    PaymentVoided: handlers.on_payment_voided,  # type: ignore[dict-item]
}


class Saga:
    """One order in a fake store, fed events the way the inbox consumer would."""

    def __init__(self) -> None:
        self.store = OrderStore()
        self.order_id = str(uuid.uuid4())
        self.published: list[Event] = []
        order = Order.place(
            order_id=self.order_id,
            customer_id=CUSTOMER,
            items=[(PRODUCT, 2)],
            prices={PRODUCT: (Decimal("10.00"), "EUR")},
            deadline_at=DEADLINE,
        )
        with self.unit_of_work() as uow:
            uow.orders.add(order, idempotency_key=None, fingerprint="f")

    def unit_of_work(self, cause: Cause | None = None) -> InMemoryOrderUnitOfWork:
        uow = InMemoryOrderUnitOfWork(self.store, cause or Cause("corr"))
        original = uow.after_write

        def keep(published: list) -> None:
            self.published.extend(p.event for p in published)
            original(published)

        uow.after_write = keep  # type: ignore[method-assign]
        return uow

    def deliver(self, event: Event) -> None:
        with self.unit_of_work(Cause("corr", str(uuid.uuid4()), event.event_type)) as uow:
            HANDLERS[type(event)](event, uow)

    @property
    def order(self) -> Order:
        return self.store.orders[self.order_id]

    def emitted(self, kind: type[Event]) -> list[Event]:
        return [event for event in self.published if isinstance(event, kind)]


def reserved(saga: Saga, price: str = "9.50") -> StockReserved:
    return StockReserved(
        order_id=saga.order_id,
        customer_id=CUSTOMER,
        items=[PricedLine(product_id=PRODUCT, quantity=2, unit_price=price)],
        total=str(Decimal(price) * 2),
        currency="EUR",
        deadline_at=DEADLINE,
    )


def authorized(saga: Saga) -> PaymentAuthorized:
    return PaymentAuthorized(
        order_id=saga.order_id, payment_id="p", customer_id=CUSTOMER, amount="19.00", currency="EUR"
    )


def declined(saga: Saga) -> PaymentDeclined:
    return PaymentDeclined(
        order_id=saga.order_id,
        payment_id="p",
        customer_id=CUSTOMER,
        amount="19.00",
        currency="EUR",
        reason="over the limit",
    )


def failed(saga: Saga) -> StockReservationFailed:
    return StockReservationFailed(order_id=saga.order_id, customer_id=CUSTOMER, reason="none left")


def test_placing_an_order_publishes_order_created_and_starts_its_timeline() -> None:
    saga = Saga()
    (created,) = saga.emitted(OrderCreated)
    assert created.aggregate_id == saga.order_id
    assert saga.order.status == OrderStatus.PENDING
    assert [step["event_type"] for step in saga.store.timeline] == ["order.created"]


@pytest.mark.parametrize("order", list(itertools.permutations(["reserved", "authorized"])))
@pytest.mark.parametrize("twice", [False, True])
def test_reserved_and_authorized_in_any_order_and_twice_confirm_once(
    order: tuple[str, ...], twice: bool
) -> None:
    saga = Saga()
    events = {"reserved": reserved(saga), "authorized": authorized(saga)}
    for name in order:
        for _ in range(2 if twice else 1):
            saga.deliver(events[name])
    assert saga.order.status == OrderStatus.CONFIRMED
    (confirmed,) = saga.emitted(OrderConfirmed)
    # Confirmed at the prices the reservation was made at, not the catalog's of the moment.
    assert confirmed.items[0].unit_price == "9.50"  # type: ignore[attr-defined]
    assert saga.order.lines == [Line(PRODUCT, 2, Decimal("9.50"))]


ALL_LATE = ["reserved", "authorized", "declined", "failed", "released", "refunded", "voided"]


@pytest.mark.parametrize("finish", ["cancel", "time_out", "declined", "failed"])
def test_no_event_after_the_end_reopens_an_order_or_confirms_it(finish: str) -> None:
    saga = Saga()
    if finish == "cancel":
        with saga.unit_of_work() as uow:
            cancel_order(CancelOrder(saga.order_id), uow)
    elif finish == "time_out":
        with saga.unit_of_work() as uow:
            assert time_out(saga.order_id, uow)
    elif finish == "declined":
        saga.deliver(declined(saga))
    else:
        saga.deliver(failed(saga))
    final = saga.order.status
    assert final in (OrderStatus.CANCELLED, OrderStatus.REJECTED)
    late = {
        "reserved": reserved(saga),
        "authorized": authorized(saga),
        "declined": declined(saga),
        "failed": failed(saga),
        "released": StockReleased(order_id=saga.order_id, items=[], reason="x"),
        "refunded": PaymentRefunded(
            order_id=saga.order_id,
            payment_id="p",
            customer_id=CUSTOMER,
            amount="19.00",
            currency="EUR",
            reason="x",
        ),
        "voided": PaymentVoided(
            order_id=saga.order_id, payment_id="p", customer_id=CUSTOMER, reason="x"
        ),
    }
    for name in ALL_LATE:
        saga.deliver(late[name])
    assert saga.order.status == final
    assert saga.emitted(OrderConfirmed) == []
    ends = saga.emitted(OrderCancelled) + saga.emitted(OrderRejected)
    assert len(ends) == 1  # ended once, whatever came after


def test_a_declined_payment_cancels_and_a_refusal_names_why() -> None:
    saga = Saga()
    saga.deliver(reserved(saga))
    saga.deliver(declined(saga))
    assert saga.order.status == OrderStatus.CANCELLED
    assert saga.order.payment_status == PaymentStatus.DECLINED
    assert saga.order.failure_reason == "payment declined: over the limit"
    (cancelled,) = saga.emitted(OrderCancelled)
    assert cancelled.reason == saga.order.failure_reason  # type: ignore[attr-defined]


def test_compensation_events_are_recorded_without_changing_the_outcome() -> None:
    saga = Saga()
    saga.deliver(reserved(saga))
    with saga.unit_of_work() as uow:
        cancel_order(CancelOrder(saga.order_id), uow)
    saga.deliver(StockReleased(order_id=saga.order_id, items=[], reason="order cancelled"))
    assert saga.order.inventory_status == InventoryStatus.RELEASED
    assert saga.order.status == OrderStatus.CANCELLED


def test_a_confirmed_order_cannot_be_cancelled_and_stays_confirmed() -> None:
    saga = Saga()
    saga.deliver(reserved(saga))
    saga.deliver(authorized(saga))
    saga.deliver(StockCommitted(order_id=saga.order_id, items=[]))
    with pytest.raises(CannotCancel), saga.unit_of_work() as uow:
        cancel_order(CancelOrder(saga.order_id), uow)
    assert saga.order.status == OrderStatus.CONFIRMED
    assert saga.order.inventory_status == InventoryStatus.COMMITTED
    with saga.unit_of_work() as uow:
        assert not time_out(saga.order_id, uow)


def test_every_change_locks_its_order_before_anything_else() -> None:
    saga = Saga()
    uow = saga.unit_of_work(Cause("corr", "e1", "stock.reserved"))
    with uow:
        handlers.on_stock_reserved(reserved(saga), uow)
    assert uow.locks == [("order", saga.order_id)]


def test_the_timeline_shows_the_consumed_event_then_what_it_caused() -> None:
    saga = Saga()
    saga.deliver(reserved(saga))
    saga.deliver(authorized(saga))
    assert [s["event_type"] for s in saga.store.timeline] == [
        "order.created",
        "stock.reserved",
        "payment.authorized",
        "order.confirmed",
    ]
    assert [s["step"] for s in saga.store.timeline][-1] == "order confirmed"


def test_an_event_for_an_unknown_order_changes_nothing() -> None:
    saga = Saga()
    stranger = StockReserved(**{**reserved(saga).model_dump(), "order_id": str(uuid.uuid4())})
    saga.deliver(stranger)
    assert list(saga.store.orders) == [saga.order_id]


def awaiting(saga: Saga) -> PaymentAwaiting:
    return PaymentAwaiting(
        order_id=saga.order_id,
        payment_id="p",
        customer_id=CUSTOMER,
        charge_id="c",
        amount="19.00",
        currency="BRL",
        qr_code="000201...",
        qr_code_png="data:image/png;base64,",
        expires_at=DEADLINE,
    )


def test_a_pix_charge_waiting_is_a_timeline_step_and_then_authorized_or_declined() -> None:
    saga = Saga()
    saga.deliver(reserved(saga))
    saga.deliver(awaiting(saga))
    assert (saga.order.status, saga.order.payment_status) == (
        OrderStatus.STOCK_RESERVED,
        PaymentStatus.AWAITING_PAYMENT,
    )
    assert [step["event_type"] for step in saga.store.timeline][-1] == "payment.awaiting"
    saga.deliver(authorized(saga))
    assert (saga.order.status, saga.order.payment_status) == (
        OrderStatus.CONFIRMED,
        PaymentStatus.AUTHORIZED,
    )
    expired = Saga()
    expired.deliver(reserved(expired))
    expired.deliver(awaiting(expired))
    expired.deliver(declined(expired))
    assert (expired.order.status, expired.order.payment_status) == (
        OrderStatus.CANCELLED,
        PaymentStatus.DECLINED,
    )
    # Late or repeated: a waiting charge never takes back a decision.
    expired.deliver(awaiting(expired))
    assert expired.order.payment_status == PaymentStatus.DECLINED
