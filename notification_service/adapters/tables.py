"""Notification service tables, created by migrations/versions/0002_notifications.py; mirrored
here for tests and tools (the service's own SQL is in repository.py, deliveries.py and
views.py)."""

from sqlalchemy import Column, DateTime, Integer, MetaData, Table, Text, func
from sqlalchemy.dialects.postgresql import UUID

metadata = MetaData()

# Who to write to: learnt from account.registered.
contacts = Table(
    "contacts",
    metadata,
    Column("user_id", UUID(as_uuid=False), primary_key=True),
    Column("email", Text, nullable=False),
    Column("full_name", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

notifications = Table(
    "notifications",
    metadata,
    Column("notification_id", UUID(as_uuid=False), primary_key=True),
    Column("user_id", UUID(as_uuid=False), nullable=False),
    # One notification per event, even if the inbox were bypassed.
    Column("event_id", UUID(as_uuid=False), nullable=False, unique=True),
    Column("kind", Text, nullable=False),
    Column("channel", Text, nullable=False, server_default="email"),
    # NULL until the customer's contact is known (account.registered is on another topic).
    Column("recipient", Text),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="PENDING"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True)),
)
