"""User service tables; created by migrations/versions/0002_profiles.py, identification and
contact added by 0005_identified_customers.py."""

from sqlalchemy import ARRAY, Boolean, Column, DateTime, MetaData, Table, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = MetaData()

profiles = Table(
    "profiles",
    metadata,
    Column("user_id", UUID(as_uuid=False), primary_key=True),
    Column("email", Text),  # null for a guest
    Column("full_name", Text, nullable=False),
    Column("phone", Text),
    Column("addresses", JSONB, nullable=False, server_default="[]"),
    Column("national_id", Text, unique=True),  # the CPF's 11 digits
    Column("notification_channels", ARRAY(Text), nullable=False, server_default="{email}"),
    Column("roles", ARRAY(Text), nullable=False, server_default="{customer}"),
    Column("guest", Boolean, nullable=False, server_default="false"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
