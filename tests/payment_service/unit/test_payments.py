"""Every payment decision on the in-memory fakes, fed events the way the inbox consumer would:
authorize or decline (by amount, by deadline), void or refund when the order ends, a late
stock.reserved after the end, and duplicates in any order. Milliseconds, no database."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from contracts.events import (
    OrderCancelled,
    OrderRejected,
    PaymentAuthorized,
    PaymentDeclined,
    PaymentRefunded,
    PaymentVoided,
    PricedLine,
    StockReserved,
)
from payment_service import main as payment_main
from payment_service.adapters.memory import InMemoryPaymentUnitOfWork, PaymentStore
from payment_service.adapters.provider import SimulatedProvider
from payment_service.application import handlers
from payment_service.consumers import COMPENSATIONS, SUBSCRIPTIONS
from payment_service.domain.model import (
    DEADLINE_PASSED,
    Authorization,
    Charge,
    Method,
    Payment,
    PaymentStatus,
)
from payment_service.settings import PaymentSettings
from servicekit.messaging.envelope import Envelope, Event
from servicekit.messaging.unit_of_work import Cause
from servicekit.service_app import members

LIMIT = Decimal("5000.00")

Handler = Callable[[Event, InMemoryPaymentUnitOfWork], None]
HANDLERS: dict[type[Event], Handler] = {
    StockReserved: handlers.on_stock_reserved,  # type: ignore[dict-item]
    OrderCancelled: handlers.on_order_cancelled,  # type: ignore[dict-item]
    OrderRejected: handlers.on_order_rejected,  # type: ignore[dict-item]
}


class CountingProvider(SimulatedProvider):
    """The simulated provider, counting what it was asked."""

    def __init__(self) -> None:
        super().__init__(decline_above=LIMIT)
        self.asked: list[Charge] = []

    def authorize(self, charge: Charge) -> Authorization:
        self.asked.append(charge)
        return super().authorize(charge)


class Order:
    """One order's payment in a fake store, fed events as the inbox consumer would."""

    def __init__(self) -> None:
        self.store = PaymentStore()
        self.provider = CountingProvider()
        self.order_id = str(uuid.uuid4())
        self.customer_id = str(uuid.uuid4())
        self.uows: list[InMemoryPaymentUnitOfWork] = []

    def unit_of_work(self, event: Event) -> InMemoryPaymentUnitOfWork:
        cause = Cause(f"corr-{self.order_id}", str(uuid.uuid4()), event.event_type)
        uow = InMemoryPaymentUnitOfWork(self.store, cause, methods={Method.CARD: self.provider})
        self.uows.append(uow)
        return uow

    def deliver(self, event: Event) -> None:
        with self.unit_of_work(event) as uow:
            HANDLERS[type(event)](event, uow)

    def reserved(
        self, total: str = "42.50", deadline: timedelta = timedelta(minutes=5)
    ) -> StockReserved:
        return StockReserved(
            order_id=self.order_id,
            customer_id=self.customer_id,
            items=[PricedLine(product_id=str(uuid.uuid4()), quantity=1, unit_price=total)],
            total=total,
            currency="eur",
            deadline_at=datetime.now(UTC) + deadline,
        )

    def cancelled(self, **extra: str) -> OrderCancelled:
        return OrderCancelled(
            order_id=self.order_id,
            customer_id=self.customer_id,
            reason="customer cancelled",
            **extra,
        )

    def rejected(self) -> OrderRejected:
        return OrderRejected(
            order_id=self.order_id, customer_id=self.customer_id, reason="out of stock"
        )

    @property
    def payment(self) -> Payment:
        return self.store.payments[self.order_id]

    def published(self, kind: type[Event] | None = None) -> list[Event]:
        return [event for uow in self.uows for event in uow.events(kind)]

    def net_charge(self) -> Decimal:
        """What the customer paid, two ways that must agree: the stored payment, and the
        events the order service receives (authorized minus refunded)."""
        by_events = sum(
            (Decimal(e.amount) for e in self.published(PaymentAuthorized)),  # type: ignore[attr-defined]
            Decimal(0),
        ) - sum(
            (Decimal(e.amount) for e in self.published(PaymentRefunded)),  # type: ignore[attr-defined]
            Decimal(0),
        )
        by_store = self.payment.net_charge if self.order_id in self.store.payments else 0
        assert by_store == by_events
        return by_events


# -- stock.reserved: authorize or decline, once ---------------------------------------------------


@pytest.mark.parametrize("total", ["0.00", "19.90", "5000.00"])
def test_up_to_the_limit_is_authorized_and_announced(total: str) -> None:
    order = Order()
    order.deliver(order.reserved(total))
    assert (order.payment.status, order.payment.amount, order.payment.currency) == (
        PaymentStatus.AUTHORIZED,
        Decimal(total),
        "EUR",
    )
    (authorized,) = order.published()
    assert authorized == PaymentAuthorized(
        order_id=order.order_id,
        payment_id=order.payment.payment_id,
        customer_id=order.customer_id,
        amount=total,
        currency="EUR",
    )
    assert order.net_charge() == Decimal(total)


@pytest.mark.parametrize("total", ["5000.01", "9999999.99"])
def test_above_the_limit_is_declined_with_the_reason(total: str) -> None:
    order = Order()
    order.deliver(order.reserved(total))
    assert order.payment.status == PaymentStatus.DECLINED
    assert order.payment.reason == "amount above the limit of 5000.00 EUR"
    (declined,) = order.published()
    assert isinstance(declined, PaymentDeclined)
    assert (declined.amount, declined.reason) == (total, order.payment.reason)
    assert order.net_charge() == 0


def test_the_amount_is_rounded_to_cents_as_the_wire_says() -> None:
    order = Order()
    order.deliver(order.reserved("19.9"))
    assert order.payment.amount == Decimal("19.90")
    assert order.published(PaymentAuthorized)[0].amount == "19.90"  # type: ignore[attr-defined]


def test_past_the_saga_deadline_is_declined_without_asking_the_provider() -> None:
    order = Order()
    order.deliver(order.reserved("10.00", deadline=-timedelta(seconds=1)))
    assert (order.payment.status, order.payment.reason) == (
        PaymentStatus.DECLINED,
        DEADLINE_PASSED,
    )
    assert order.provider.asked == []
    assert [type(e) for e in order.published()] == [PaymentDeclined]


def test_the_deadline_is_exclusive_and_a_zoneless_one_is_utc() -> None:
    deadline = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    provider = CountingProvider()
    charge = Charge("o", "c", Decimal("1.00"), "EUR", deadline_at=deadline.replace(tzinfo=None))
    at_deadline = Payment.authorize(charge, method=provider, now=deadline)
    assert at_deadline.status == PaymentStatus.AUTHORIZED
    later = deadline + timedelta(microseconds=1)
    just_after = Payment.authorize(charge, method=provider, now=later)
    assert (just_after.status, just_after.reason) == (PaymentStatus.DECLINED, DEADLINE_PASSED)
    assert len(provider.asked) == 1


@pytest.mark.parametrize("same_event", [True, False])
def test_a_second_stock_reserved_charges_nothing_more(same_event: bool) -> None:
    order = Order()
    first = order.reserved()
    order.deliver(first)
    decided = order.payment
    order.deliver(first if same_event else order.reserved("99.00"))
    assert order.payment == decided
    assert len(order.provider.asked) == 1
    assert [type(e) for e in order.published()] == [PaymentAuthorized]


# -- the order ends: refund an authorization, void what was never made ----------------------------


@pytest.mark.parametrize("ending", ["cancelled", "rejected"])
def test_ending_after_authorization_refunds_exactly_once(ending: str) -> None:
    order = Order()
    order.deliver(order.reserved("99.90"))
    end = order.cancelled() if ending == "cancelled" else order.rejected()
    order.deliver(end)
    order.deliver(end)  # redelivered
    assert (order.payment.status, order.payment.amount, order.payment.reason) == (
        PaymentStatus.REFUNDED,
        Decimal("99.90"),
        end.reason,
    )
    (refunded,) = order.published(PaymentRefunded)
    assert refunded == PaymentRefunded(
        order_id=order.order_id,
        payment_id=order.payment.payment_id,
        customer_id=order.customer_id,
        amount="99.90",
        currency="EUR",
        reason=end.reason,
    )
    assert [type(e) for e in order.published()] == [PaymentAuthorized, PaymentRefunded]
    assert order.net_charge() == 0


@pytest.mark.parametrize("ending", ["cancelled", "rejected"])
def test_ending_before_stock_reserved_voids_and_a_late_reservation_charges_nothing(
    ending: str,
) -> None:
    order = Order()
    end = order.cancelled() if ending == "cancelled" else order.rejected()
    order.deliver(end)
    tombstone = order.payment
    assert (tombstone.status, tombstone.amount, tombstone.currency, tombstone.reason) == (
        PaymentStatus.VOIDED,
        Decimal("0.00"),
        "XXX",
        end.reason,
    )
    (voided,) = order.published()
    assert voided == PaymentVoided(
        order_id=order.order_id,
        payment_id=tombstone.payment_id,
        customer_id=order.customer_id,
        reason=end.reason,
    )
    order.deliver(order.reserved("12.00"))  # late, from the other topic
    order.deliver(end)  # and the end again
    assert order.payment == tombstone
    assert order.provider.asked == []
    assert [type(e) for e in order.published()] == [PaymentVoided]
    assert order.net_charge() == 0


def test_a_tombstone_takes_the_currency_when_the_event_carries_one() -> None:
    order = Order()
    order.deliver(order.cancelled(currency="brl"))
    assert order.payment.currency == "BRL"


def test_ending_after_a_decline_changes_nothing() -> None:
    order = Order()
    order.deliver(order.reserved("9999.00"))
    declined = order.payment
    order.deliver(order.cancelled())
    assert order.payment == declined
    assert [type(e) for e in order.published()] == [PaymentDeclined]
    assert order.net_charge() == 0


def test_a_cancel_after_a_rejection_refunds_nothing_twice() -> None:
    order = Order()
    order.deliver(order.reserved())
    order.deliver(order.rejected())
    order.deliver(order.cancelled())
    assert order.payment.status == PaymentStatus.REFUNDED
    assert len(order.published(PaymentRefunded)) == 1


# -- every interleaving ---------------------------------------------------------------------------

DELIVERIES = ["reserved", "reserved again", "cancelled", "cancelled again", "rejected"]


@pytest.mark.parametrize(
    "sequence",
    [
        sequence
        for size in (2, 3, 4)
        for sequence in itertools.permutations(DELIVERIES, size)
        if any(name.startswith(("cancelled", "rejected")) for name in sequence)
    ],
)
def test_any_order_of_reservations_ends_and_duplicates_leaves_one_payment_and_no_charge(
    sequence: tuple[str, ...],
) -> None:
    order = Order()
    reserved, cancelled = order.reserved("250.00"), order.cancelled()
    events: dict[str, Event] = {
        "reserved": reserved,
        "reserved again": reserved,
        "cancelled": cancelled,
        "cancelled again": cancelled,
        "rejected": order.rejected(),
    }
    for name in sequence:
        order.deliver(events[name])
    assert list(order.store.payments) == [order.order_id]
    assert order.net_charge() == 0
    assert order.payment.status in (PaymentStatus.REFUNDED, PaymentStatus.VOIDED)
    # One decision when the money moved (or did not), one compensation, nothing after.
    kinds = [type(e) for e in order.published()]
    assert kinds in ([PaymentVoided], [PaymentAuthorized, PaymentRefunded])
    assert len(order.provider.asked) == kinds.count(PaymentAuthorized)


def test_every_handler_locks_the_orders_payment_before_anything_else() -> None:
    order = Order()
    for event in (order.reserved(), order.cancelled(), order.rejected(), order.reserved()):
        uow = order.unit_of_work(event)
        with uow:
            HANDLERS[type(event)](event, uow)
        assert uow.locks[0] == ("payment", order.order_id)
        assert set(uow.locks) == {("payment", order.order_id)}


def test_a_failed_unit_of_work_leaves_nothing_and_publishes_nothing() -> None:
    order = Order()
    event = order.reserved()
    with pytest.raises(RuntimeError), order.unit_of_work(event) as uow:
        handlers.on_stock_reserved(event, uow)
        raise RuntimeError("the inbox transaction failed")
    assert order.store.payments == {}
    assert order.published() == []
    order.deliver(event)  # the redelivery decides
    assert order.payment.status == PaymentStatus.AUTHORIZED


def test_the_subscription_tables_name_each_event_and_the_lock_its_handler_takes() -> None:
    def build(session: object, cause: Cause) -> InMemoryPaymentUnitOfWork:
        return InMemoryPaymentUnitOfWork(cause=cause)

    steps, compensations = SUBSCRIPTIONS.using(build), COMPENSATIONS.using(build)
    assert steps.group == compensations.group == "payment-service"
    assert (steps.member, compensations.member) == ("", "compensations")
    assert steps.events == [StockReserved]
    assert steps.topics == ["stock_reservation.events"]
    assert compensations.events == [OrderCancelled, OrderRejected]
    assert compensations.topics == ["order.events"]
    order = Order()
    for table, event in ((steps, order.reserved()), (compensations, order.cancelled())):
        assert table.batch_locks is not None
        envelope = Envelope(
            event_type=event.event_type,
            aggregate_type=event.aggregate_type,
            aggregate_id=event.aggregate_id,
            payload=event.model_dump(mode="json"),
        )
        assert list(table.batch_locks(envelope)) == [("payment", order.order_id)]


def test_create_app_fetches_the_step_at_once_and_gathers_the_compensations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: dict[str, object] = {}
    monkeypatch.setattr(payment_main, "create_service_app", lambda **kwargs: made.update(kwargs))
    payment_main.create_app(PaymentSettings(compensation_gather_ms=150))
    steps, compensations = members(made["subscriptions"])
    assert steps.events == [StockReserved] and steps.consumer_overrides() == {}
    assert compensations.events == [OrderCancelled, OrderRejected]
    assert compensations.member == "compensations"
    assert compensations.consumer_overrides()["fetch.wait.max.ms"] == 150
    # Both apply what one fetch brings in one transaction.
    assert steps.batch_locks is not None and compensations.batch_locks is not None
