"""The provider's webhooks, once their signature is checked (api/routes.py): each applied to
its order's payment in one transaction with the record of its id, so a redelivery, even one
racing the first, finds that record and changes nothing.

- charge.paid     -> payment.authorized (paid after the order ended: refunded, never kept);
- charge.expired  -> payment.declined, reason ``expired`` (the order is cancelled);
- charge.refunded -> payment.refunded, once.

A webhook about an order or charge this service does not know is acknowledged and ignored: the
provider would otherwise retry it for days.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import orjson
from prometheus_client import Counter

from contracts.webhooks import CHARGE_EXPIRED, CHARGE_PAID, CHARGE_REFUNDED, verify
from payment_service.application.ports import PaymentUnitOfWork
from payment_service.domain.model import Method, Payment
from servicekit.logging import get_logger

log = get_logger(__name__)

WEBHOOKS = Counter(
    "payment_webhooks_total",
    "Provider webhooks accepted, by type and outcome.",
    ["type", "outcome"],
)

DUPLICATE = "duplicate"
IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class ProviderWebhook:
    """What a verified webhook says."""

    webhook_id: str
    type: str
    charge_id: str
    reference: str | None  # the order id payment_service gave the charge


def receive_webhook(webhook: ProviderWebhook, uow: PaymentUnitOfWork) -> str:
    """Apply a webhook once; returns the payment's status after it, ``duplicate`` or
    ``ignored``."""
    order_id = _uuid(webhook.reference)
    payment = uow.payments.get_for_update(order_id) if order_id is not None else None
    outcome = _apply(webhook, payment)
    if not uow.webhooks.record(
        webhook.webhook_id,
        event_type=webhook.type,
        charge_id=webhook.charge_id,
        order_id=order_id,
        outcome=outcome,
    ):
        if payment is not None:  # seen before: what it would change again is forgotten
            payment.events.clear()
            payment.calls.clear()
        return DUPLICATE
    if payment is not None and outcome != IGNORED:
        uow.payments.save(payment)
    log.info(
        "provider_webhook_applied",
        webhook_id=webhook.webhook_id,
        type=webhook.type,
        order_id=order_id,
        outcome=outcome,
    )
    return outcome


def _apply(webhook: ProviderWebhook, payment: Payment | None) -> str:
    if payment is None or payment.method is not Method.PIX:
        return IGNORED
    if payment.pix is not None and payment.pix.charge_id != webhook.charge_id:
        log.warning(
            "provider_webhook_other_charge",
            order_id=payment.order_id,
            charge_id=webhook.charge_id,
            expected=payment.pix.charge_id,
        )
        return IGNORED
    if webhook.type == CHARGE_PAID:
        payment.charge_paid()
    elif webhook.type == CHARGE_EXPIRED:
        payment.charge_expired()
    elif webhook.type == CHARGE_REFUNDED:
        payment.charge_refunded()
    else:
        return IGNORED
    return payment.status.value


def _uuid(text: str | None) -> str | None:
    try:
        return str(uuid.UUID(text)) if text else None
    except ValueError:
        return None


class InvalidWebhook(ValueError):
    """A correctly signed body that is not a webhook this service can read."""


class WebhookInbox:
    """Verifies a webhook's signature and timestamp before it reads a word of the body, then
    applies it in its own transaction."""

    def __init__(
        self,
        unit_of_work: Callable[[], AbstractContextManager[PaymentUnitOfWork]],
        *,
        secret: str,
        tolerance_seconds: int,
        max_bytes: int,
    ) -> None:
        self.unit_of_work = unit_of_work
        self._secret = secret
        self.tolerance_seconds = tolerance_seconds
        self.max_bytes = max_bytes  # larger bodies are refused before they are read further

    def accept(self, body: bytes, signature: str | None, now: float) -> str:
        """The outcome (see receive_webhook). InvalidSignature: nothing is read nor written."""
        verify(self._secret, signature, body, now, tolerance=self.tolerance_seconds)
        webhook = parse_webhook(body)
        with self.unit_of_work() as uow:
            outcome = receive_webhook(webhook, uow)
        known = webhook.type in (CHARGE_PAID, CHARGE_EXPIRED, CHARGE_REFUNDED)
        WEBHOOKS.labels(webhook.type if known else "other", _label(outcome)).inc()
        return outcome


def parse_webhook(body: bytes) -> ProviderWebhook:
    """The fields of a webhook body (contracts.webhooks.ChargeWebhook) this service uses."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidWebhook("the body is not JSON") from exc
    if not isinstance(data, dict):
        raise InvalidWebhook("the body is not a JSON object")
    webhook_id, kind, charge_id = data.get("id"), data.get("type"), data.get("charge_id")
    reference = data.get("reference")
    for name, value in (("id", webhook_id), ("type", kind), ("charge_id", charge_id)):
        if not isinstance(value, str) or not 0 < len(value) <= 100:
            raise InvalidWebhook(f"{name} must be a string of 1 to 100 characters")
    if _uuid(charge_id) is None:
        raise InvalidWebhook("charge_id must be a UUID")
    if reference is not None and not isinstance(reference, str):
        raise InvalidWebhook("reference must be a string or null")
    return ProviderWebhook(str(webhook_id), str(kind), str(_uuid(charge_id)), reference)


def _label(outcome: str) -> str:
    """A bounded metric label: the statuses, duplicate, ignored."""
    return outcome.lower()
