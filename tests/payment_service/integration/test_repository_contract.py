"""One contract for the payment repository, run against PostgreSQL (adapters/repository.py) and
against the in-memory fake (adapters/memory.py) the unit tests rely on: if the fake drifts from
the database's behaviour, this fails."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

from payment_service.adapters.memory import InMemoryPaymentUnitOfWork, PaymentStore
from payment_service.adapters.provider import SimulatedProvider
from payment_service.adapters.repository import SqlPaymentUnitOfWork
from payment_service.adapters.tables import provider_calls
from payment_service.application.ports import PaymentExists, PaymentUnitOfWork
from payment_service.domain.model import (
    Charge,
    Method,
    Payment,
    PaymentStatus,
    PixCharge,
    ProviderCall,
)
from servicekit.messaging.outbox import outbox_table
from servicekit.messaging.unit_of_work import Cause, transaction
from tests.payment_service import support
from tests.support import scratch_database, sqlalchemy_url

pytestmark = pytest.mark.integration

UnitOfWork = Callable[[], AbstractContextManager[PaymentUnitOfWork]]
PROVIDER = SimulatedProvider(decline_above=Decimal("100.00"))
CUSTOMER = str(uuid.uuid4())


class Harness:
    def __init__(
        self,
        unit_of_work: UnitOfWork,
        published: Callable[[str], list[str]],
        calls: Callable[[str], dict[str, str]],
    ) -> None:
        self.unit_of_work = unit_of_work
        self.published = published  # the event types written for an order, in order
        self.calls = calls  # the provider calls an order owes: kind -> pending / done


@pytest.fixture(params=["postgresql", "memory"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "memory":
        store = PaymentStore()
        uows: list[InMemoryPaymentUnitOfWork] = []

        def unit_of_work() -> InMemoryPaymentUnitOfWork:
            uows.append(InMemoryPaymentUnitOfWork(store, Cause("c")))
            return uows[-1]

        yield Harness(
            unit_of_work,
            lambda order_id: [
                e.event_type for u in uows for e in u.events() if e.aggregate_id == order_id
            ],
            lambda order_id: {
                kind: state for (order, kind), state in store.calls.items() if order == order_id
            },
        )
        return
    request.getfixturevalue("engines")
    with scratch_database("pay", migrations="payment_service") as url:
        engine = create_engine(sqlalchemy_url(url))
        sessions = sessionmaker(engine, expire_on_commit=False)

        def published(order_id: str) -> list[str]:
            with engine.connect() as conn:
                rows = conn.execute(
                    select(outbox_table.c.event_type)
                    .where(outbox_table.c.aggregate_id == order_id)
                    .order_by(outbox_table.c.id)
                )
                return [row[0] for row in rows]

        def calls(order_id: str) -> dict[str, str]:
            with engine.connect() as conn:
                rows = conn.execute(
                    select(provider_calls.c.kind, provider_calls.c.status).where(
                        provider_calls.c.order_id == order_id
                    )
                )
                return {kind: status for kind, status in rows}

        yield Harness(
            lambda: transaction(sessions, lambda s: SqlPaymentUnitOfWork(s, methods={})),
            published,
            calls,
        )
        engine.dispose()


def opened(total: str = "42.50") -> Payment:
    charge = Charge(
        order_id=str(uuid.uuid4()),
        customer_id=CUSTOMER,
        amount=Decimal(total),
        currency="EUR",
        deadline_at=datetime.now(UTC) + timedelta(minutes=5),
    )
    return Payment.authorize(charge, method=PROVIDER, now=datetime.now(UTC))


def test_an_added_payment_loads_back_as_it_was_and_its_event_is_published(
    harness: Harness,
) -> None:
    payment = opened("420.00")  # declined: above the limit
    with harness.unit_of_work() as uow:
        uow.payments.add(payment)
    with harness.unit_of_work() as uow:
        loaded = uow.payments.get_for_update(payment.order_id)
        assert loaded is not None
        assert loaded == Payment(
            payment_id=payment.payment_id,
            order_id=payment.order_id,
            customer_id=CUSTOMER,
            amount=Decimal("420.00"),
            currency="EUR",
            status=PaymentStatus.DECLINED,
            reason="amount above the limit of 100.00 EUR",
        )
        assert loaded.events == []
        assert uow.payments.get_for_update(str(uuid.uuid4())) is None
    assert harness.published(payment.order_id) == ["payment.declined"]


def test_a_tombstone_keeps_no_money_and_no_currency(harness: Harness) -> None:
    order_id = str(uuid.uuid4())
    with harness.unit_of_work() as uow:
        uow.payments.add(Payment.void(order_id=order_id, customer_id=CUSTOMER, reason="gone"))
    with harness.unit_of_work() as uow:
        loaded = uow.payments.get_for_update(order_id)
        assert loaded is not None
        assert (loaded.status, loaded.amount, loaded.currency, loaded.reason) == (
            PaymentStatus.VOIDED,
            Decimal("0.00"),
            "XXX",
            "gone",
        )
    assert harness.published(order_id) == ["payment.voided"]


def test_a_saved_change_persists_and_is_published(harness: Harness) -> None:
    payment = opened()
    with harness.unit_of_work() as uow:
        uow.payments.add(payment)
    with harness.unit_of_work() as uow:
        loaded = uow.payments.get_for_update(payment.order_id)
        assert loaded is not None and loaded.order_ended("customer cancelled")
        uow.payments.save(loaded)
    with harness.unit_of_work() as uow:
        again = uow.payments.get_for_update(payment.order_id)
        assert again is not None
        assert (again.status, again.reason, again.amount) == (
            PaymentStatus.REFUNDED,
            "customer cancelled",
            Decimal("42.50"),
        )
    assert harness.published(payment.order_id) == ["payment.authorized", "payment.refunded"]


def test_one_payment_per_order(harness: Harness) -> None:
    payment = opened()
    with harness.unit_of_work() as uow:
        uow.payments.add(payment)
    second = Payment.void(order_id=payment.order_id, customer_id=CUSTOMER, reason="again")
    with harness.unit_of_work() as uow:
        with pytest.raises(PaymentExists):
            uow.payments.add(second)
        # The refusal wrote nothing, so the work goes on.
        assert uow.payments.get_for_update(payment.order_id) is not None
    with harness.unit_of_work() as uow:
        kept = uow.payments.get_for_update(payment.order_id)
        assert kept is not None and kept.payment_id == payment.payment_id
    assert harness.published(payment.order_id) == ["payment.authorized"]


def test_a_rolled_back_unit_of_work_leaves_nothing(harness: Harness) -> None:
    payment = opened()
    with pytest.raises(RuntimeError), harness.unit_of_work() as uow:
        uow.payments.add(payment)
        raise RuntimeError("the use case failed")
    with harness.unit_of_work() as uow:
        assert uow.payments.get_for_update(payment.order_id) is None
    assert harness.published(payment.order_id) == []


def pix_opened() -> Payment:
    return support.pix_opened(CUSTOMER)


def test_a_pix_payment_keeps_its_method_deadline_charge_and_the_calls_it_owes(
    harness: Harness,
) -> None:
    payment = pix_opened()
    deadline = payment.deadline_at
    with harness.unit_of_work() as uow:
        uow.payments.add(payment)
    assert harness.calls(payment.order_id) == {"create_charge": "pending"}
    assert harness.published(payment.order_id) == []
    charge = PixCharge(
        str(uuid.uuid4()), "00020126...6304ABCD", "data:image/png;base64,AA==", deadline
    )
    with harness.unit_of_work() as uow:
        loaded = uow.payments.get_for_update(payment.order_id)
        assert loaded is not None
        assert (loaded.method, loaded.status, loaded.deadline_at, loaded.pix) == (
            Method.PIX,
            PaymentStatus.PENDING,
            deadline,
            None,
        )
        loaded.charge_created(charge)
        uow.payments.save(loaded)
        uow.calls.done(payment.order_id, ProviderCall.CREATE_CHARGE)
    with harness.unit_of_work() as uow:
        again = uow.payments.get_for_update(payment.order_id)
        assert again is not None
        assert (again.status, again.pix) == (PaymentStatus.AWAITING_PAYMENT, charge)
        assert again.order_ended("customer cancelled")
        uow.payments.save(again)
    assert harness.calls(payment.order_id) == {"create_charge": "done", "cancel_charge": "pending"}
    assert harness.published(payment.order_id) == ["payment.awaiting", "payment.voided"]
    with harness.unit_of_work() as uow:
        uow.calls.done(payment.order_id, ProviderCall.CANCEL_CHARGE)
    with harness.unit_of_work() as uow:  # the same call asked again is made again
        voided = uow.payments.get_for_update(payment.order_id)
        assert voided is not None
        voided.calls.append(ProviderCall.CANCEL_CHARGE)
        uow.payments.save(voided)
    assert harness.calls(payment.order_id)["cancel_charge"] == "pending"


def test_a_webhook_id_is_recorded_once(harness: Harness) -> None:
    webhook_id = str(uuid.uuid4())
    order_id = str(uuid.uuid4())

    def record() -> bool:
        with harness.unit_of_work() as uow:
            return uow.webhooks.record(
                webhook_id,
                event_type="charge.paid",
                charge_id=str(uuid.uuid4()),
                order_id=order_id,
                outcome="AUTHORIZED",
            )

    assert record()
    assert not record()
    with pytest.raises(RuntimeError), harness.unit_of_work() as uow:
        assert uow.webhooks.record(
            "another",
            event_type="charge.paid",
            charge_id=str(uuid.uuid4()),
            order_id=None,
            outcome="ignored",
        )
        raise RuntimeError("rolled back")
    with harness.unit_of_work() as uow:  # the rolled back one was never recorded
        assert uow.webhooks.record(
            "another",
            event_type="charge.paid",
            charge_id=str(uuid.uuid4()),
            order_id=None,
            outcome="ignored",
        )
