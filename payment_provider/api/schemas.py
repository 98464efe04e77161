"""Request and response bodies of the provider's HTTP API."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt

from contracts.money import money_text
from payment_provider.application.charges import NewCharge
from payment_provider.domain.model import (
    CURRENCY,
    MAX_EXPIRY_SECONDS,
    MIN_EXPIRY_SECONDS,
    Charge,
    parse_amount,
)

MAX_URL_LENGTH = 2000


def check_notification_url(url: str) -> str:
    """An absolute http(s) URL with a host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise ValueError("notification_url must be an absolute http:// or https:// URL")
    return url


Amount = Annotated[
    Decimal,
    BeforeValidator(parse_amount),
    Field(description='decimal string, > 0, at most two places, e.g. "19.90"'),
]
NotificationUrl = Annotated[
    str, Field(min_length=1, max_length=MAX_URL_LENGTH), AfterValidator(check_notification_url)
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ChargeCreate(_Strict):
    """POST /charges (with an Idempotency-Key header)."""

    amount: Amount
    currency: Literal["BRL"] = Field(description="pix moves reais only")
    expires_in_seconds: StrictInt = Field(ge=MIN_EXPIRY_SECONDS, le=MAX_EXPIRY_SECONDS)
    description: str | None = Field(default=None, min_length=1, max_length=140)
    reference: str | None = Field(
        default=None, min_length=1, max_length=100, description="the merchant's id, e.g. an order"
    )
    notification_url: NotificationUrl | None = Field(
        default=None, description="where this charge's webhooks go (default: the provider's)"
    )

    def to_request(self) -> NewCharge:
        """The application's view of the request."""
        return NewCharge(
            amount=self.amount,
            currency=self.currency,
            expires_in_seconds=self.expires_in_seconds,
            description=self.description,
            reference=self.reference,
            notification_url=self.notification_url,
        )


class ChargePayment(_Strict):
    """POST /charges/{charge_id}/pay: the payer's bank may state the amount it sends."""

    amount: Amount | None = None


class ChargeOut(BaseModel):
    """A charge as the merchant (and the payer's bank) sees it."""

    charge_id: str
    status: Literal["pending", "paid", "expired", "refunded", "cancelled"]
    amount: str = Field(description="decimal string, two places")
    currency: str = Field(examples=[CURRENCY])
    description: str | None
    reference: str | None
    qr_code: str = Field(description='the pix "copia e cola" text (EMV BR Code)')
    qr_code_png: str = Field(description="data:image/png;base64,... of a QR code of qr_code")
    expires_at: datetime
    created_at: datetime
    paid_at: datetime | None
    expired_at: datetime | None
    refunded_at: datetime | None
    cancelled_at: datetime | None = None

    @classmethod
    def of(cls, charge: Charge) -> ChargeOut:
        """The response body for a charge."""
        return cls(
            charge_id=str(charge.charge_id),
            status=charge.status.value,
            amount=money_text(charge.amount),
            currency=charge.currency,
            description=charge.description,
            reference=charge.reference,
            qr_code=charge.qr_code,
            qr_code_png=charge.qr_code_png,
            expires_at=charge.expires_at,
            created_at=charge.created_at,
            paid_at=charge.paid_at,
            expired_at=charge.expired_at,
            refunded_at=charge.refunded_at,
            cancelled_at=charge.cancelled_at,
        )
