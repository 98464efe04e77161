"""Order service tables; created by migrations/versions/0002_orders.py and changed by 0005."""

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = MetaData()

orders = Table(
    "orders",
    metadata,
    Column("order_id", UUID(as_uuid=False), primary_key=True),
    Column("customer_id", UUID(as_uuid=False), nullable=False),
    Column("status", Text, nullable=False),
    Column("payment_status", Text, nullable=False),
    Column("inventory_status", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("total", Numeric(12, 2), nullable=False),
    Column("failure_reason", Text),
    Column("idempotency_key", Text),
    Column("request_hash", Text),
    Column("deadline_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("delivery_address", JSONB),
    Column("payment_method", Text, nullable=False),
    Column("correlation_id", Text),
    Column("fulfilment_status", Text, nullable=False),
    Column("fulfilment_updated_at", DateTime(timezone=True)),
    Column("version", BigInteger, nullable=False),
)

order_items = Table(
    "order_items",
    metadata,
    Column("order_id", UUID(as_uuid=False), primary_key=True),
    Column("product_id", UUID(as_uuid=False), primary_key=True),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", Numeric(12, 2), nullable=False),
)

order_timeline = Table(
    "order_timeline",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("order_id", UUID(as_uuid=False), nullable=False),
    Column("step", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("service", Text, nullable=False),
    Column("event_id", UUID(as_uuid=False)),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Read model of the catalog, fed by product.created / updated / archived.
products = Table(
    "products",
    metadata,
    Column("product_id", UUID(as_uuid=False), primary_key=True),
    Column("sku", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("price", Numeric(12, 2), nullable=False),
    Column("currency", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("category_id", UUID(as_uuid=False)),
    Column("archived_at", DateTime(timezone=True)),
)

# Read model of the categories, fed by category.created / updated / deleted.
categories = Table(
    "categories",
    metadata,
    Column("category_id", UUID(as_uuid=False), primary_key=True),
    Column("name", Text, nullable=False),
    Column("slug", Text, nullable=False),
    Column("description", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
