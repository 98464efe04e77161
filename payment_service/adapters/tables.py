"""Payment service tables; created by migrations/versions/0002_payments.py and 0005_pix.py."""

from sqlalchemy import Column, DateTime, Integer, MetaData, Numeric, Table, Text, func
from sqlalchemy.dialects.postgresql import UUID

metadata = MetaData()

payments = Table(
    "payments",
    metadata,
    Column("payment_id", UUID(as_uuid=False), primary_key=True),
    # One payment per order, whichever of stock.reserved / order.cancelled arrives first.
    Column("order_id", UUID(as_uuid=False), nullable=False, unique=True),
    Column("customer_id", UUID(as_uuid=False), nullable=False),
    Column("amount", Numeric(12, 2), nullable=False),
    Column("currency", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("reason", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("method", Text, nullable=False, server_default="card"),
    # pix: the provider's charge, once its creation is recorded.
    Column("charge_id", UUID(as_uuid=False), unique=True),
    Column("qr_code", Text),
    Column("qr_code_png", Text),
    Column("expires_at", DateTime(timezone=True)),
    Column("deadline_at", DateTime(timezone=True)),
)

provider_calls = Table(
    "provider_calls",
    metadata,
    Column("call_id", UUID(as_uuid=False), primary_key=True),  # the Idempotency-Key
    Column("order_id", UUID(as_uuid=False), nullable=False),
    Column("kind", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("done_at", DateTime(timezone=True)),
)

provider_webhooks = Table(
    "provider_webhooks",
    metadata,
    Column("webhook_id", Text, primary_key=True),
    Column("event_type", Text, nullable=False),
    Column("charge_id", UUID(as_uuid=False)),
    Column("order_id", UUID(as_uuid=False)),
    Column("outcome", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
