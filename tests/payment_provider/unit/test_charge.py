"""The payment provider's charge state machine and webhook retry delays (pure domain)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from payment_provider.domain.model import (
    AmountMismatch,
    Charge,
    ChargeStateConflict,
    ChargeStatus,
    parse_amount,
    webhook_retry_delay,
)

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def pending(expires_in: float = 60) -> Charge:
    return Charge(
        charge_id=uuid.uuid4(),
        status=ChargeStatus.PENDING,
        amount=Decimal("10.50"),
        currency="BRL",
        description=None,
        reference="order-1",
        notification_url="http://merchant.example/webhooks",
        txid="abc",
        qr_code="000201",
        qr_code_png="data:image/png;base64,",
        expires_at=T0 + timedelta(seconds=expires_in),
        created_at=T0,
    )


def test_pay_then_refund_each_once() -> None:
    charge = pending()
    charge.pay(T0 + timedelta(seconds=5), Decimal("10.50"))
    charge.pay(T0 + timedelta(seconds=6))  # the bank app retried: nothing changes
    assert charge.status is ChargeStatus.PAID
    assert charge.paid_at == T0 + timedelta(seconds=5)
    charge.refund(T0 + timedelta(seconds=7))
    charge.refund(T0 + timedelta(seconds=8))
    assert charge.status is ChargeStatus.REFUNDED
    assert [e.type for e in charge.events] == ["charge.paid", "charge.refunded"]


def test_paying_after_the_expiry_expires_it_and_refuses() -> None:
    charge = pending(expires_in=60)
    with pytest.raises(ChargeStateConflict, match="expired"):
        charge.pay(T0 + timedelta(seconds=60))
    assert charge.status is ChargeStatus.EXPIRED
    assert [e.type for e in charge.events] == ["charge.expired"]
    with pytest.raises(ChargeStateConflict):
        charge.refund(T0 + timedelta(seconds=61))
    assert [e.type for e in charge.events] == ["charge.expired"]


def test_only_a_paid_charge_can_be_refunded_and_a_refunded_one_not_paid() -> None:
    charge = pending()
    with pytest.raises(ChargeStateConflict, match="only a paid charge"):
        charge.refund(T0)
    assert charge.status is ChargeStatus.PENDING
    charge.pay(T0)
    charge.refund(T0)
    with pytest.raises(ChargeStateConflict, match="refunded"):
        charge.pay(T0)


def test_a_wrong_amount_changes_nothing() -> None:
    charge = pending()
    with pytest.raises(AmountMismatch):
        charge.pay(T0, Decimal("10.49"))
    assert charge.status is ChargeStatus.PENDING
    assert charge.events == []


def test_expire_if_due_only_once_and_only_when_due() -> None:
    charge = pending(expires_in=10)
    assert not charge.expire_if_due(T0 + timedelta(seconds=9))
    assert charge.expire_if_due(T0 + timedelta(seconds=10))
    assert not charge.expire_if_due(T0 + timedelta(seconds=11))
    assert len(charge.events) == 1


@pytest.mark.parametrize("text", ["10", "10.5", "10.50", "0.01", "9999999999.99"])
def test_amounts_accepted(text: str) -> None:
    assert parse_amount(text) == Decimal(text)


@pytest.mark.parametrize("value", ["0", "0.00", "-1", "10.001", "1e3", "abc", "", True, None])
def test_amounts_refused(value: object) -> None:
    with pytest.raises(ValueError, match="amount"):
        parse_amount(value)


def test_retry_delay_doubles_is_capped_and_jittered_within_the_upper_half() -> None:
    def delays(jitter: float) -> list[float]:
        return [
            webhook_retry_delay(n, initial=1.0, maximum=60.0, jitter=jitter) for n in range(1, 10)
        ]

    assert delays(0.0) == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert delays(0.999999) == pytest.approx([1, 2, 4, 8, 16, 32, 60, 60, 60], rel=1e-5)
    # Thousands of failures later, still capped (no overflow).
    assert webhook_retry_delay(5000, initial=1.0, maximum=60.0, jitter=0.5) == 45.0


def test_cancel_withdraws_a_pending_charge_once_and_it_cannot_be_paid() -> None:
    charge = pending()
    assert charge.cancel(T0 + timedelta(seconds=1))
    assert charge.status is ChargeStatus.CANCELLED
    assert charge.cancelled_at == T0 + timedelta(seconds=1)
    assert not charge.cancel(T0 + timedelta(seconds=2))  # a repeat changes nothing
    assert charge.cancelled_at == T0 + timedelta(seconds=1)
    assert charge.events == []  # the merchant asked: no webhook
    with pytest.raises(ChargeStateConflict):
        charge.pay(T0 + timedelta(seconds=3))


def test_a_paid_charge_is_never_cancelled_and_an_expired_one_stays_expired() -> None:
    paid = pending()
    paid.pay(T0)
    with pytest.raises(ChargeStateConflict, match="refund"):
        paid.cancel(T0)
    assert paid.status is ChargeStatus.PAID
    late = pending(expires_in=1)
    assert not late.cancel(T0 + timedelta(seconds=5))
    assert late.status is ChargeStatus.EXPIRED
