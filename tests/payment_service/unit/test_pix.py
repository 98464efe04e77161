"""Pix on the in-memory fakes: the intent recorded on stock.reserved, the provider's answers and
webhooks (each applied once, whatever the order), withdrawing or refunding when the order ends;
and the webhook signature check (contracts.webhooks) with the inbox that relies on it."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from contracts.events import (
    OrderCancelled,
    PaymentAuthorized,
    PaymentAwaiting,
    PaymentDeclined,
    PaymentRefunded,
    PaymentVoided,
    PricedLine,
    StockReserved,
)
from contracts.webhooks import InvalidSignature, sign, verify
from payment_service.adapters.memory import InMemoryPaymentUnitOfWork, PaymentStore
from payment_service.application import handlers
from payment_service.application.webhooks import (
    DUPLICATE,
    IGNORED,
    InvalidWebhook,
    ProviderWebhook,
    WebhookInbox,
    receive_webhook,
)
from payment_service.domain.model import (
    DEADLINE_PASSED,
    Payment,
    PaymentStatus,
    PixCharge,
    ProviderCall,
)
from servicekit.messaging.envelope import Event
from servicekit.messaging.unit_of_work import Cause

SECRET = "test-secret"


class PixOrder:
    """One pix order's payment in a fake store."""

    def __init__(self) -> None:
        self.store = PaymentStore()
        self.order_id = str(uuid.uuid4())
        self.customer_id = str(uuid.uuid4())
        self.charge_id = str(uuid.uuid4())
        self.uows: list[InMemoryPaymentUnitOfWork] = []

    def unit_of_work(self) -> InMemoryPaymentUnitOfWork:
        uow = InMemoryPaymentUnitOfWork(self.store, Cause("corr", str(uuid.uuid4())))
        self.uows.append(uow)
        return uow

    def reserved(self, currency: str = "brl", deadline: timedelta = timedelta(minutes=15)) -> None:
        event = StockReserved(
            order_id=self.order_id,
            customer_id=self.customer_id,
            items=[PricedLine(product_id=str(uuid.uuid4()), quantity=1, unit_price="25.90")],
            total="25.90",
            currency=currency,
            deadline_at=datetime.now(UTC) + deadline,
            payment_method="pix",
        )
        with self.unit_of_work() as uow:
            handlers.on_stock_reserved(event, uow)

    def cancelled(self) -> None:
        event = OrderCancelled(
            order_id=self.order_id, customer_id=self.customer_id, reason="customer cancelled"
        )
        with self.unit_of_work() as uow:
            handlers.on_order_cancelled(event, uow)

    def created(self) -> None:
        """What the charging worker records once the provider made the charge."""
        charge = PixCharge(self.charge_id, "000201...", "data:image/png;base64,", datetime.now(UTC))
        with self.unit_of_work() as uow:
            payment = uow.payments.get_for_update(self.order_id)
            assert payment is not None
            payment.charge_created(charge)
            uow.payments.save(payment)

    def webhook(self, kind: str, webhook_id: str | None = None) -> str:
        hook = ProviderWebhook(webhook_id or str(uuid.uuid4()), kind, self.charge_id, self.order_id)
        with self.unit_of_work() as uow:
            return receive_webhook(hook, uow)

    @property
    def payment(self) -> Payment:
        return self.store.payments[self.order_id]

    def calls(self) -> dict[str, str]:
        return {kind: state for (order, kind), state in self.store.calls.items()}

    def published(self) -> list[type[Event]]:
        return [type(event) for uow in self.uows for event in uow.events()]


def test_stock_reserved_records_the_intent_and_no_event() -> None:
    order = PixOrder()
    order.reserved()
    assert order.payment.status is PaymentStatus.PENDING
    assert order.payment.deadline_at is not None
    assert order.calls() == {"create_charge": "pending"}
    assert order.published() == []
    order.reserved()  # a redelivery: still one payment, one call
    assert order.calls() == {"create_charge": "pending"}


def test_a_pix_order_past_its_deadline_or_not_in_reais_is_declined_at_once() -> None:
    late = PixOrder()
    late.reserved(deadline=timedelta(seconds=-1))
    assert (late.payment.status, late.payment.reason) == (PaymentStatus.DECLINED, DEADLINE_PASSED)
    euros = PixOrder()
    euros.reserved(currency="eur")
    assert euros.payment.status is PaymentStatus.DECLINED
    assert "BRL" in (euros.payment.reason or "")
    assert late.calls() == euros.calls() == {}


def test_the_charge_created_awaits_payment_then_paid_authorizes_once() -> None:
    order = PixOrder()
    order.reserved()
    order.created()
    assert order.payment.status is PaymentStatus.AWAITING_PAYMENT
    assert order.published() == [PaymentAwaiting]
    webhook_id = str(uuid.uuid4())
    assert order.webhook("charge.paid", webhook_id) == "AUTHORIZED"
    assert order.webhook("charge.paid", webhook_id) == DUPLICATE
    assert order.webhook("charge.paid") == "AUTHORIZED"  # another id: nothing more to do
    assert order.published() == [PaymentAwaiting, PaymentAuthorized]
    assert order.payment.net_charge == order.payment.amount


def test_an_expired_charge_declines_and_a_late_expiry_changes_nothing() -> None:
    order = PixOrder()
    order.reserved()
    order.created()
    assert order.webhook("charge.expired") == "DECLINED"
    assert (order.payment.status, order.payment.reason) == (PaymentStatus.DECLINED, "expired")
    assert order.published() == [PaymentAwaiting, PaymentDeclined]


def test_an_order_cancelled_before_payment_withdraws_the_charge() -> None:
    order = PixOrder()
    order.reserved()
    order.created()
    order.cancelled()
    assert order.payment.status is PaymentStatus.VOIDED
    assert order.calls() == {"create_charge": "pending", "cancel_charge": "pending"}
    assert order.published() == [PaymentAwaiting, PaymentVoided]


def test_a_charge_created_after_the_cancellation_is_withdrawn_and_never_awaited() -> None:
    order = PixOrder()
    order.reserved()
    order.cancelled()
    with order.unit_of_work() as uow:  # the worker found no charge to withdraw yet
        uow.calls.done(order.order_id, ProviderCall.CANCEL_CHARGE)
    assert order.calls()["cancel_charge"] == "done"
    order.created()
    assert order.payment.status is PaymentStatus.VOIDED
    assert order.calls()["cancel_charge"] == "pending"  # asked again, now that the charge exists
    assert PaymentAwaiting not in order.published()


def test_money_that_arrives_after_the_cancellation_is_refunded_once() -> None:
    order = PixOrder()
    order.reserved()
    order.created()
    order.cancelled()
    assert order.webhook("charge.paid") == "REFUNDING"
    assert order.calls()["refund_charge"] == "pending"
    assert order.payment.net_charge == order.payment.amount  # held until the refund is done
    assert order.webhook("charge.paid") == "REFUNDING"  # a second id asks no second refund
    assert order.webhook("charge.refunded") == "REFUNDED"
    assert order.webhook("charge.refunded") == "REFUNDED"
    assert order.published().count(PaymentRefunded) == 1
    assert PaymentAuthorized not in order.published()
    assert order.payment.net_charge == 0


def test_a_paid_order_cancelled_before_confirmation_is_refunded_through_the_provider() -> None:
    order = PixOrder()
    order.reserved()
    order.created()
    order.webhook("charge.paid")
    order.cancelled()
    assert order.payment.status is PaymentStatus.REFUNDING
    assert order.calls()["refund_charge"] == "pending"
    assert order.webhook("charge.refunded") == "REFUNDED"
    assert order.published() == [PaymentAwaiting, PaymentAuthorized, PaymentRefunded]


def test_webhooks_about_unknown_orders_or_other_charges_are_ignored() -> None:
    order = PixOrder()
    order.reserved()
    order.created()
    stranger = ProviderWebhook(str(uuid.uuid4()), "charge.paid", order.charge_id, "not-an-order")
    other = ProviderWebhook(str(uuid.uuid4()), "charge.paid", str(uuid.uuid4()), order.order_id)
    for hook in (stranger, other):
        with order.unit_of_work() as uow:
            assert receive_webhook(hook, uow) == IGNORED
    assert order.payment.status is PaymentStatus.AWAITING_PAYMENT
    assert order.published() == [PaymentAwaiting]


# -- the signature check ---------------------------------------------------------------------


def test_a_signature_is_hmac_sha256_of_the_timestamp_and_the_raw_body() -> None:
    body = b'{"id":"1"}'
    header = sign(SECRET, body, 1_700_000_000)
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert verify(SECRET, header, body, now=1_700_000_100) == 1_700_000_000
    # Rotating secrets: any one matching v1 will do.
    rotated = f"{header},v1={'0' * 64}"
    assert verify(SECRET, rotated, body, now=1_700_000_000) == 1_700_000_000


@pytest.mark.parametrize(
    ("header", "body", "now"),
    [
        (None, b"{}", 1000.0),
        ("", b"{}", 1000.0),
        ("t=1000", b"{}", 1000.0),
        ("v1=abc", b"{}", 1000.0),
        ("t=abc,v1=abc", b"{}", 1000.0),
        ("garbage", b"{}", 1000.0),
        (sign("another-secret", b"{}", 1000), b"{}", 1000.0),
        (sign(SECRET, b"{}", 1000), b"{} ", 1000.0),  # one byte more
        (sign(SECRET, b"{}", 1000), b"{}", 1000.0 + 301),  # stale
        (sign(SECRET, b"{}", 1000), b"{}", 1000.0 - 301),  # from the future
    ],
)
def test_missing_wrong_or_stale_signatures_are_refused(
    header: str | None, body: bytes, now: float
) -> None:
    with pytest.raises(InvalidSignature):
        verify(SECRET, header, body, now=now, tolerance=300)


def test_the_inbox_reads_nothing_unless_the_signature_holds() -> None:
    order = PixOrder()
    order.reserved()
    order.created()
    inbox = WebhookInbox(order.unit_of_work, secret=SECRET, tolerance_seconds=300, max_bytes=65536)
    body = orjson.dumps(
        {
            "id": str(uuid.uuid4()),
            "type": "charge.paid",
            "charge_id": order.charge_id,
            "reference": order.order_id,
        }
    )
    uows_before = len(order.uows)
    with pytest.raises(InvalidSignature):
        inbox.accept(body, sign("wrong", body, int(time.time())), time.time())
    with pytest.raises(InvalidSignature):
        inbox.accept(body, sign(SECRET, body, int(time.time()) - 600), time.time())
    assert len(order.uows) == uows_before  # no transaction was even opened
    junk = b'{"id": "x", "type": "charge.paid", "charge_id": "not-a-uuid"}'
    with pytest.raises(InvalidWebhook):
        inbox.accept(junk, sign(SECRET, junk, int(time.time())), time.time())
    assert order.payment.status is PaymentStatus.AWAITING_PAYMENT
    assert inbox.accept(body, sign(SECRET, body, int(time.time())), time.time()) == "AUTHORIZED"
    assert inbox.accept(body, sign(SECRET, body, int(time.time())), time.time()) == DUPLICATE
