"""The provider's use cases: create, read, pay, refund and expire charges. Each runs in its own
transaction, and a transition commits together with the webhook it owes the merchant."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from prometheus_client import Counter
from sqlalchemy.orm import Session

from contracts.money import money_text
from contracts.webhooks import ChargeWebhook
from payment_provider.adapters import repository
from payment_provider.adapters.qr import png_data_url
from payment_provider.domain.brcode import static_pix_payload
from payment_provider.domain.model import (
    Charge,
    ChargeError,
    ChargeEvent,
    ChargeNotFound,
    ChargeStatus,
    IdempotencyConflict,
    txid_for,
)
from servicekit.logging import get_logger

log = get_logger(__name__)

CHARGES = Counter("provider_charges_total", "Charges that entered each status.", ["status"])

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Merchant:
    """Who receives the pix: written into every QR payload."""

    pix_key: str
    name: str
    city: str


@dataclass(frozen=True, slots=True)
class NewCharge:
    """A merchant's request for a charge, validated by the API."""

    amount: Decimal
    currency: str
    expires_in_seconds: int
    description: str | None = None
    reference: str | None = None
    notification_url: str | None = None

    def fingerprint(self) -> dict[str, Any]:
        """What makes two requests "the same" for an idempotency key (JSON-ready)."""
        return {
            "amount": money_text(self.amount),
            "currency": self.currency,
            "expires_in_seconds": self.expires_in_seconds,
            "description": self.description,
            "reference": self.reference,
            "notification_url": self.notification_url,
        }


class Charges:
    """The charge use cases, with what they need wired in once (by main.create_app)."""

    def __init__(
        self,
        *,
        merchant: Merchant,
        default_notification_url: str,
        on_webhooks_queued: Callable[[], None] = lambda: None,
        clock: Clock = utc_now,
    ) -> None:
        self.merchant = merchant
        self.default_notification_url = default_notification_url
        self.on_webhooks_queued = on_webhooks_queued
        self.clock = clock

    def create(
        self, session: Session, request: NewCharge, *, idempotency_key: str
    ) -> tuple[Charge, bool]:
        """A new pending charge, or the one this key already made; True when it is new.

        Raises IdempotencyConflict when the key was used for a different request.
        """
        now = self.clock()
        charge_id = uuid.uuid4()
        txid = txid_for(charge_id)
        qr_code = static_pix_payload(
            pix_key=self.merchant.pix_key,
            merchant_name=self.merchant.name,
            merchant_city=self.merchant.city,
            amount=request.amount,
            txid=txid,
        )
        charge = Charge(
            charge_id=charge_id,
            status=ChargeStatus.PENDING,
            amount=request.amount,
            currency=request.currency,
            description=request.description,
            reference=request.reference,
            notification_url=request.notification_url or self.default_notification_url,
            txid=txid,
            qr_code=qr_code,
            qr_code_png=png_data_url(qr_code),  # ~10 ms of CPU: drawn before the transaction
            expires_at=now + timedelta(seconds=request.expires_in_seconds),
            created_at=now,
        )
        fingerprint = request.fingerprint()
        with session.begin():
            stored = repository.claim_idempotency_key(
                session,
                operation="create_charge",
                key=idempotency_key,
                request=fingerprint,
                charge_id=charge_id,
                now=now,
            )
            if stored is None:
                repository.insert_charge(session, charge)
        if stored is None:
            CHARGES.labels(ChargeStatus.PENDING.value).inc()
            log.info(
                "charge_created",
                charge_id=str(charge_id),
                amount=money_text(charge.amount),
                reference=charge.reference,
                expires_at=charge.expires_at.isoformat(),
            )
            return charge, True
        if stored.request != fingerprint:
            differing = sorted(k for k in fingerprint if fingerprint[k] != stored.request.get(k))
            raise IdempotencyConflict(
                "this Idempotency-Key was already used for a different charge request"
                f" (differs in: {', '.join(differing)})"
            )
        return self.read(session, stored.charge_id), False

    def read(self, session: Session, charge_id: uuid.UUID) -> Charge:
        """The charge as it is now: one found past its expiry is expired first."""
        with session.begin():
            charge = repository.charge_by_id(session, charge_id)
        if charge is None:
            raise ChargeNotFound(f"charge {charge_id} not found")
        if charge.is_due_to_expire(self.clock()):
            # Expire it now rather than report "pending" for a charge that can no longer be paid.
            return self._transition(session, charge_id, lambda c, now: c.expire_if_due(now))
        return charge

    def by_reference(self, session: Session, reference: str, *, limit: int) -> list[Charge]:
        """The charges made with this merchant reference, newest first."""
        with session.begin():
            charges = repository.charges_by_reference(session, reference, limit=limit)
        now = self.clock()
        return [
            self.read(session, charge.charge_id) if charge.is_due_to_expire(now) else charge
            for charge in charges
        ]

    def pay(self, session: Session, charge_id: uuid.UUID, *, amount: Decimal | None) -> Charge:
        """The payer's bank pays the charge (paying a paid charge again changes nothing)."""
        return self._transition(session, charge_id, lambda c, now: c.pay(now, amount))

    def refund(self, session: Session, charge_id: uuid.UUID, *, idempotency_key: str) -> Charge:
        """Give a paid charge's money back, once; a repeat answers the refunded charge."""

        def refund(charge: Charge, now: datetime) -> None:
            stored = repository.claim_idempotency_key(
                session,
                operation="refund_charge",
                key=idempotency_key,
                request={"charge_id": str(charge_id)},
                charge_id=charge_id,
                now=now,
            )
            if stored is not None and stored.charge_id != charge_id:
                raise IdempotencyConflict(
                    "this Idempotency-Key was already used to refund another charge"
                )
            charge.refund(now)

        return self._transition(session, charge_id, refund)

    def cancel(self, session: Session, charge_id: uuid.UUID) -> Charge:
        """Withdraw a charge nobody paid; a repeat (or an expired charge) answers it as it is."""
        with session.begin():
            charge = repository.charge_by_id(session, charge_id, for_update=True)
            if charge is None:
                raise ChargeNotFound(f"charge {charge_id} not found")
            was = charge.status
            try:
                cancelled = charge.cancel(self.clock())
            finally:
                # An expiry found on the way is kept, with its webhook, even if cancel refuses.
                if charge.status is not was:
                    repository.save_status(session, charge)
                self._store_webhooks(session, charge)
        self._announce(charge)
        if cancelled:
            CHARGES.labels(ChargeStatus.CANCELLED.value).inc()
            log.info("charge_cancelled", charge_id=str(charge_id), reference=charge.reference)
        return charge

    def expire_due(self, session: Session, *, limit: int) -> int:
        """Expire up to ``limit`` pending charges whose time is up; returns how many."""
        now = self.clock()
        with session.begin():
            charges = repository.charges_due_for_expiry(session, now=now, limit=limit)
            for charge in charges:
                charge.expire_if_due(now)
                self._store_transitions(session, charge)
        for charge in charges:
            self._announce(charge)
        return len(charges)

    def _transition(
        self,
        session: Session,
        charge_id: uuid.UUID,
        change: Callable[[Charge, datetime], object],
    ) -> Charge:
        """Apply ``change`` to the locked charge and commit what it did.

        A refusal (ChargeError) is raised only after the commit: an expiry found on the way
        (paying a charge whose time is up) is kept, with its webhook.
        """
        refusal: ChargeError | None = None
        with session.begin():
            charge = repository.charge_by_id(session, charge_id, for_update=True)
            if charge is None:
                raise ChargeNotFound(f"charge {charge_id} not found")
            try:
                change(charge, self.clock())
            except ChargeError as exc:
                refusal = exc
            self._store_transitions(session, charge)
        self._announce(charge)
        if refusal is not None:
            raise refusal
        return charge

    def _store_transitions(self, session: Session, charge: Charge) -> None:
        if not charge.events:
            return
        repository.save_status(session, charge)
        self._store_webhooks(session, charge)

    def _store_webhooks(self, session: Session, charge: Charge) -> None:
        for event in charge.events:
            webhook_id = uuid.uuid4()
            repository.insert_webhook(
                session,
                webhook_id=webhook_id,
                charge_id=charge.charge_id,
                event_type=event.type,
                url=charge.notification_url,
                body=webhook_body(webhook_id, charge, event),
                now=event.occurred_at,
            )

    def _announce(self, charge: Charge) -> None:
        """After the commit: metrics, logs, and a nudge to the webhook senders."""
        for event in charge.events:
            status = event.type.removeprefix("charge.")
            CHARGES.labels(status).inc()
            log.info(
                f"charge_{status}",
                charge_id=str(charge.charge_id),
                reference=charge.reference,
            )
        if charge.events:
            charge.events.clear()
            self.on_webhooks_queued()


def webhook_body(webhook_id: uuid.UUID, charge: Charge, event: ChargeEvent) -> str:
    """The JSON body of a webhook (contracts.webhooks.ChargeWebhook), as sent on every attempt."""
    body: ChargeWebhook = {
        "id": str(webhook_id),
        "type": event.type,
        "charge_id": str(charge.charge_id),
        "amount": money_text(charge.amount),
        "currency": charge.currency,
        "reference": charge.reference,
        "occurred_at": event.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }
    return orjson.dumps(body).decode()
