"""The webhook contract between the payment provider and its merchant (payment_service).

The provider signs every delivery attempt with the shared secret; the merchant verifies before it
believes a word of the body. The header is ``X-Provider-Signature: t=<unix seconds>,v1=<hex>``,
where ``<hex>`` is HMAC-SHA256 of ``"<t>.<raw body>"``: the timestamp is signed with the body, so a
captured delivery cannot be replayed later than ``tolerance`` seconds under a fresh ``t``. Replays
inside the window are the receiver's to drop, by the webhook ``id`` (docs/payment-provider.md).
Standard library only: both sides import it without pulling in a framework.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final, Literal, TypedDict

SIGNATURE_HEADER: Final = "X-Provider-Signature"
DEFAULT_TOLERANCE_SECONDS: Final = 300

CHARGE_PAID: Final = "charge.paid"
CHARGE_EXPIRED: Final = "charge.expired"
CHARGE_REFUNDED: Final = "charge.refunded"

WebhookType = Literal["charge.paid", "charge.expired", "charge.refunded"]


class ChargeWebhook(TypedDict):
    """The JSON body of a webhook; ``id`` is unique per webhook and the same on every attempt."""

    id: str
    type: WebhookType
    charge_id: str
    amount: str  # decimal string, two places
    currency: str
    reference: str | None  # the merchant's own id given when the charge was created
    occurred_at: str  # ISO 8601, UTC


class InvalidSignature(ValueError):
    """The signature header is missing, malformed, wrong, or outside the time tolerance."""


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Provider-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    if not secret:
        raise ValueError("the webhook secret is empty")
    return f"t={timestamp},v1={_digest(secret, body, timestamp)}"


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> int:
    """Check a signature header against the raw body; returns its timestamp.

    Raises InvalidSignature when the header is missing or malformed, when no ``v1`` matches, or
    when ``t`` is more than ``tolerance`` seconds from ``now``, in the past (a replay) or in the
    future (a clock far off, or a forged ``t`` meant to stay valid longer). Several ``v1`` entries
    are allowed so that a sender can sign with an old and a new secret while they rotate.
    """
    if not secret:
        raise ValueError("the webhook secret is empty")
    if not header:
        raise InvalidSignature(f"missing {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, separator, value = part.strip().partition("=")
        if not separator:
            raise InvalidSignature(f"malformed {SIGNATURE_HEADER} header")
        if name == "t":
            if timestamp is not None or not (value.isascii() and value.isdigit()):
                raise InvalidSignature(f"malformed timestamp in {SIGNATURE_HEADER} header")
            timestamp = int(value)
        elif name == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise InvalidSignature(f"{SIGNATURE_HEADER} header needs t= and v1=")
    if now - timestamp > tolerance:
        raise InvalidSignature("signature timestamp is too old")
    if timestamp - now > tolerance:
        raise InvalidSignature("signature timestamp is in the future")
    expected = _digest(secret, body, timestamp)
    # Compare every candidate, in constant time each, so timing tells nothing about which failed.
    matches = [hmac.compare_digest(expected, candidate) for candidate in signatures]
    if not any(matches):
        raise InvalidSignature("signature does not match")
    return timestamp


def _digest(secret: str, body: bytes, timestamp: int) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
