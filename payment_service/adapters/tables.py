"""Payment service tables; created by migrations/versions/0002_payments.py."""

from sqlalchemy import Column, DateTime, MetaData, Numeric, Table, Text, func
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
)
