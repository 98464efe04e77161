"""payment_service handlers against the real PostgreSQL, called as the inbox consumer calls them
(inside ``with session.begin():``): one payment per order whatever the order of events, and no net
charge for any cancelled or rejected order."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from payment_service.adapters.provider import SimulatedProvider
from payment_service.adapters.repository import SqlPaymentUnitOfWork
from payment_service.adapters.tables import payments
from payment_service.api.routes import router
from payment_service.consumers import COMPENSATIONS, SUBSCRIPTIONS
from payment_service.domain.model import Method, net_charge
from payment_service.settings import PaymentSettings
from servicekit.dependencies import get_principal, get_session
from servicekit.http import install_error_handlers
from servicekit.messaging.envelope import Envelope
from servicekit.messaging.outbox import outbox_table
from servicekit.tokens import Principal

pytestmark = pytest.mark.integration

PROVIDER = SimulatedProvider(decline_above=Decimal("5000.00"))
# event_type -> (session, envelope) handler, exactly what the inbox consumer is given.
# Both members of the group: the saga's step and the compensations.
HANDLERS = {
    event_type: handler
    for table in (SUBSCRIPTIONS, COMPENSATIONS)
    for event_type, handler in table.using(SqlPaymentUnitOfWork.joining({Method.CARD: PROVIDER}))
    .handlers()
    .items()
}


def stock_reserved(
    order_id: str,
    customer_id: str,
    total: str = "42.50",
    *,
    deadline: timedelta = timedelta(minutes=5),
) -> Envelope:
    return Envelope(
        event_type="stock.reserved",
        aggregate_type="stock_reservation",
        aggregate_id=order_id,
        payload={
            "order_id": order_id,
            "customer_id": customer_id,
            "items": [{"product_id": str(uuid.uuid4()), "quantity": 1, "unit_price": total}],
            "total": total,
            "currency": "EUR",
            "deadline_at": (datetime.now(UTC) + deadline).isoformat(),
        },
        correlation_id=f"corr-{order_id}",
    )


def order_ended(order_id: str, customer_id: str, event_type: str = "order.cancelled") -> Envelope:
    return Envelope(
        event_type=event_type,
        aggregate_type="order",
        aggregate_id=order_id,
        payload={"order_id": order_id, "customer_id": customer_id, "reason": "customer cancelled"},
        correlation_id=f"corr-{order_id}",
    )


def deliver(sessions: sessionmaker[Session], envelope: Envelope) -> None:
    """One delivery, as InboxConsumer runs a handler: in a transaction the handler never commits."""
    with sessions() as session, session.begin():
        HANDLERS[envelope.event_type](session, envelope)


def rows(sessions: sessionmaker[Session], order_id: str) -> list[Any]:
    with sessions() as session:
        return list(session.execute(select(payments).where(payments.c.order_id == order_id)))


def events(sessions: sessionmaker[Session], order_id: str) -> list[Any]:
    with sessions() as session:
        return list(
            session.execute(
                select(outbox_table)
                .where(outbox_table.c.aggregate_id == order_id)
                .order_by(outbox_table.c.id)
            )
        )


def net_charge_of(sessions: sessionmaker[Session], order_id: str) -> Decimal:
    """What the customer paid, seen two ways that must agree: the payment row, and the ledger of
    events the order service receives (authorized minus refunded)."""
    by_rows = sum((net_charge(r.status, r.amount) for r in rows(sessions, order_id)), Decimal(0))
    by_events = Decimal(0)
    for event in events(sessions, order_id):
        if event.event_type == "payment.authorized":
            by_events += Decimal(event.payload["amount"])
        elif event.event_type == "payment.refunded":
            by_events -= Decimal(event.payload["amount"])
    assert by_rows == by_events
    return by_rows


def new_ids() -> tuple[str, str]:
    return str(uuid.uuid4()), str(uuid.uuid4())


def test_authorizes_under_the_limit(sessions: sessionmaker[Session]) -> None:
    order_id, customer_id = new_ids()
    reserved = stock_reserved(order_id, customer_id, "5000.00")
    deliver(sessions, reserved)

    [payment] = rows(sessions, order_id)
    assert (payment.status, payment.amount, payment.currency) == (
        "AUTHORIZED",
        Decimal("5000.00"),
        "EUR",
    )
    [event] = events(sessions, order_id)
    assert event.event_type == "payment.authorized"
    assert event.aggregate_type == "payment"
    assert event.payload == {
        "order_id": order_id,
        "payment_id": str(payment.payment_id),
        "customer_id": customer_id,
        "amount": "5000.00",
        "currency": "EUR",
    }
    assert event.headers == {
        "correlation_id": f"corr-{order_id}",
        "causation_id": str(reserved.event_id),
    }


def test_declines_above_the_limit(sessions: sessionmaker[Session]) -> None:
    order_id, customer_id = new_ids()
    deliver(sessions, stock_reserved(order_id, customer_id, "5000.01"))

    [payment] = rows(sessions, order_id)
    assert payment.status == "DECLINED"
    assert "limit" in payment.reason
    [event] = events(sessions, order_id)
    assert event.event_type == "payment.declined"
    assert event.payload["amount"] == "5000.01"
    assert event.payload["reason"] == payment.reason
    assert net_charge_of(sessions, order_id) == 0


def test_declines_once_the_saga_deadline_passed(sessions: sessionmaker[Session]) -> None:
    order_id, customer_id = new_ids()
    deliver(
        sessions, stock_reserved(order_id, customer_id, "10.00", deadline=-timedelta(seconds=1))
    )

    [payment] = rows(sessions, order_id)
    assert (payment.status, payment.reason) == ("DECLINED", "saga deadline passed")
    assert [e.event_type for e in events(sessions, order_id)] == ["payment.declined"]


def test_duplicate_stock_reserved_still_one_payment(sessions: sessionmaker[Session]) -> None:
    order_id, customer_id = new_ids()
    first = stock_reserved(order_id, customer_id)
    deliver(sessions, first)
    # The same event again, and a second stock.reserved for the order (another event id).
    deliver(sessions, first)
    deliver(sessions, stock_reserved(order_id, customer_id))

    assert len(rows(sessions, order_id)) == 1
    assert [e.event_type for e in events(sessions, order_id)] == ["payment.authorized"]


@pytest.mark.parametrize("event_type", ["order.cancelled", "order.rejected"])
def test_cancel_after_authorize_refunds(sessions: sessionmaker[Session], event_type: str) -> None:
    order_id, customer_id = new_ids()
    deliver(sessions, stock_reserved(order_id, customer_id, "99.90"))
    assert net_charge_of(sessions, order_id) == Decimal("99.90")
    cancelled = order_ended(order_id, customer_id, event_type)
    deliver(sessions, cancelled)
    deliver(sessions, cancelled)  # redelivered: refunded once

    [payment] = rows(sessions, order_id)
    assert (payment.status, payment.amount) == ("REFUNDED", Decimal("99.90"))
    authorized, refunded = events(sessions, order_id)
    assert (authorized.event_type, refunded.event_type) == (
        "payment.authorized",
        "payment.refunded",
    )
    assert refunded.payload == {
        "order_id": order_id,
        "payment_id": str(payment.payment_id),
        "customer_id": customer_id,
        "amount": "99.90",
        "currency": "EUR",
        "reason": "customer cancelled",
    }
    assert refunded.headers["causation_id"] == str(cancelled.event_id)
    assert net_charge_of(sessions, order_id) == 0


@pytest.mark.parametrize("event_type", ["order.cancelled", "order.rejected"])
def test_cancel_before_stock_reserved_voids_and_never_charges(
    sessions: sessionmaker[Session], event_type: str
) -> None:
    order_id, customer_id = new_ids()
    deliver(sessions, order_ended(order_id, customer_id, event_type))

    [tombstone] = rows(sessions, order_id)
    assert (tombstone.status, tombstone.amount) == ("VOIDED", Decimal("0.00"))
    [voided] = events(sessions, order_id)
    assert voided.event_type == "payment.voided"
    assert voided.payload["payment_id"] == str(tombstone.payment_id)

    # The reservation arrives late (another topic): no charge, no new event.
    deliver(sessions, stock_reserved(order_id, customer_id, "12.00"))
    [payment] = rows(sessions, order_id)
    assert payment.status == "VOIDED"
    assert [e.event_type for e in events(sessions, order_id)] == ["payment.voided"]
    assert net_charge_of(sessions, order_id) == 0


def test_cancel_after_decline_changes_nothing(sessions: sessionmaker[Session]) -> None:
    order_id, customer_id = new_ids()
    deliver(sessions, stock_reserved(order_id, customer_id, "9999.00"))
    deliver(sessions, order_ended(order_id, customer_id))

    [payment] = rows(sessions, order_id)
    assert payment.status == "DECLINED"
    assert [e.event_type for e in events(sessions, order_id)] == ["payment.declined"]
    assert net_charge_of(sessions, order_id) == 0


def test_net_charge_is_zero_for_every_cancelled_order_in_any_order(
    sessions: sessionmaker[Session],
) -> None:
    """Every interleaving of reservation, cancellation and their redeliveries."""
    orders = []
    for sequence in ("RC", "CR", "RRC", "CRR", "RCC", "CCR", "RCRC", "CRCR"):
        order_id, customer_id = new_ids()
        reserved = stock_reserved(order_id, customer_id, "250.00")
        cancelled = order_ended(order_id, customer_id)
        for step in sequence:
            deliver(sessions, reserved if step == "R" else cancelled)
        orders.append(order_id)
    for order_id in orders:
        assert len(rows(sessions, order_id)) == 1
        assert net_charge_of(sessions, order_id) == 0


def test_decline_limit_setting_reads_the_documented_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYMENT_DECLINE_ABOVE", "12.34")
    assert PaymentSettings().decline_above == Decimal("12.34")
    monkeypatch.delenv("PAYMENT_DECLINE_ABOVE")
    assert PaymentSettings(_env_file=None).decline_above == Decimal("5000.00")


def test_concurrent_reservations_and_cancellations_leave_one_payment_and_no_charge(
    sessions: sessionmaker[Session],
) -> None:
    """Two consumer instances racing on one order: the aggregate lock serialises them."""
    order_id, customer_id = new_ids()
    deliveries = [stock_reserved(order_id, customer_id, "75.00") for _ in range(4)]
    deliveries += [order_ended(order_id, customer_id) for _ in range(4)]
    barrier = threading.Barrier(len(deliveries))

    def race(envelope: Envelope) -> None:
        barrier.wait()
        deliver(sessions, envelope)

    with ThreadPoolExecutor(len(deliveries)) as pool:
        list(pool.map(race, deliveries))

    [payment] = rows(sessions, order_id)
    assert payment.status in ("REFUNDED", "VOIDED")
    assert net_charge_of(sessions, order_id) == 0


# -- GET /api/payments ---------------------------------------------------------------------------


def api_client(sessions: sessionmaker[Session], principal: Principal) -> TestClient:
    """The router alone, with the caller and the session supplied (no lifespan, no Kafka)."""
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)

    def session() -> Iterator[Session]:
        with sessions() as s:
            yield s

    app.dependency_overrides[get_principal] = lambda: principal
    app.dependency_overrides[get_session] = session
    return TestClient(app)


def test_api_lists_only_the_callers_payments(sessions: sessionmaker[Session]) -> None:
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    alice_order, bob_order = str(uuid.uuid4()), str(uuid.uuid4())
    deliver(sessions, stock_reserved(alice_order, alice, "19.9"))
    deliver(sessions, stock_reserved(bob_order, bob, "7000"))

    as_alice = api_client(sessions, Principal(alice, frozenset({"customer"})))
    response = as_alice.get("/api/payments")
    assert response.status_code == 200
    [payment] = response.json()
    assert set(payment) >= {"payment_id", "order_id", "amount", "currency", "status"}
    assert (payment["order_id"], payment["amount"], payment["currency"], payment["status"]) == (
        alice_order,
        "19.90",
        "EUR",
        "AUTHORIZED",
    )
    assert as_alice.get("/api/payments", params={"order_id": alice_order}).json() == [payment]
    # Another customer's order: an empty list, as if it did not exist.
    assert as_alice.get("/api/payments", params={"order_id": bob_order}).json() == []
    bad = as_alice.get("/api/payments", params={"order_id": "not-a-uuid"})
    assert bad.status_code == 422

    as_admin = api_client(sessions, Principal(str(uuid.uuid4()), frozenset({"admin"})))
    everything = as_admin.get("/api/payments").json()
    assert {p["order_id"] for p in everything} == {alice_order, bob_order}
    [declined] = as_admin.get("/api/payments", params={"order_id": bob_order}).json()
    assert (declined["amount"], declined["status"]) == ("7000.00", "DECLINED")
