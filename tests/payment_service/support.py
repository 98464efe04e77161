"""What several payment_service tests build."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from payment_service.domain.model import Charge, Method, Payment


def pix_opened(customer_id: str | None = None) -> Payment:
    """A pix payment just opened: PENDING, owing the provider a charge."""
    charge = Charge(
        order_id=str(uuid.uuid4()),
        customer_id=customer_id or str(uuid.uuid4()),
        amount=Decimal("25.90"),
        currency="BRL",
        deadline_at=datetime.now(UTC) + timedelta(minutes=15),
        method=Method.PIX,
    )
    return Payment.open_pix(charge, now=datetime.now(UTC))
