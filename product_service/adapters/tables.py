"""Product service tables, for the reads of views.py and tests; created by the migrations in
migrations/versions/ (0002: products, stock, reservations; 0005: categories, archive)."""

from sqlalchemy import BigInteger, Column, DateTime, MetaData, Numeric, Table, Text, func
from sqlalchemy.dialects.postgresql import UUID

metadata = MetaData()

products = Table(
    "products",
    metadata,
    Column("product_id", UUID(as_uuid=False), primary_key=True),
    Column("sku", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("price", Numeric(12, 2), nullable=False),
    Column("currency", Text, nullable=False),
    Column("stock_initial", BigInteger, nullable=False),
    Column("stock_adjusted", BigInteger, nullable=False, server_default="0"),
    Column("stock_available", BigInteger, nullable=False),
    Column("stock_reserved", BigInteger, nullable=False, server_default="0"),
    Column("stock_sold", BigInteger, nullable=False, server_default="0"),
    Column("category_id", UUID(as_uuid=False)),
    Column("archived_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

categories = Table(
    "categories",
    metadata,
    Column("category_id", UUID(as_uuid=False), primary_key=True),
    Column("name", Text, nullable=False),
    Column("slug", Text, nullable=False, unique=True),
    Column("description", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

stock_adjustments = Table(
    "stock_adjustments",
    metadata,
    Column("adjustment_id", BigInteger, primary_key=True),
    Column("product_id", UUID(as_uuid=False), nullable=False),
    Column("delta", BigInteger, nullable=False),
    Column("stock_available", BigInteger, nullable=False),
    Column("adjusted_by", Text, nullable=False),
    Column("correlation_id", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

reservations = Table(
    "reservations",
    metadata,
    Column("order_id", UUID(as_uuid=False), primary_key=True),
    Column("customer_id", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("total", Numeric(14, 2)),
    Column("deadline_at", DateTime(timezone=True)),
    Column("failure_reason", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

reservation_lines = Table(
    "reservation_lines",
    metadata,
    Column("order_id", UUID(as_uuid=False), primary_key=True),
    Column("product_id", UUID(as_uuid=False), primary_key=True),
    Column("quantity", BigInteger, nullable=False),
    Column("unit_price", Numeric(12, 2), nullable=False),
)
