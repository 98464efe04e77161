"""Response bodies of the payments API (``/api/payments``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class Payment(BaseModel):
    """One payment of the caller; ``amount`` a decimal string with two places."""

    payment_id: str
    order_id: str
    amount: str
    currency: str
    status: str
    reason: str | None
    created_at: datetime
    updated_at: datetime
