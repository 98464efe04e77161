"""Response bodies of the payments API (``/api/payments``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class Payment(BaseModel):
    """One payment of the caller; ``amount`` a decimal string with two places. A pix payment
    AWAITING_PAYMENT shows what the customer pays: the QR code's text and image, until when."""

    payment_id: str
    order_id: str
    amount: str
    currency: str
    status: str
    reason: str | None
    created_at: datetime
    updated_at: datetime
    method: str = Field(description='"card" or "pix"')
    charge_id: str | None = Field(description="pix: the charge at the payment provider")
    qr_code: str | None = Field(description='pix: the "copia e cola" text (EMV BR Code)')
    qr_code_png: str | None = Field(description="pix: data:image/png;base64,... of the QR code")
    expires_at: datetime | None = Field(description="pix: the QR code cannot be paid after this")


class WebhookAccepted(BaseModel):
    """POST /api/payments/webhooks/provider: what became of the webhook."""

    outcome: str = Field(
        description="the payment's status after it, duplicate (seen before: nothing changed)"
        " or ignored (not about a pix payment of this service)"
    )
