"""Notification service tables, created by migrations/versions/0002_notifications.py and changed
by 0005_channels.py; mirrored
here for tests and tools (the service's own SQL is in repository.py, deliveries.py and
views.py)."""

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID

metadata = MetaData()

# Who to write to: learnt from auth's account events and user.profile_updated.
contacts = Table(
    "contacts",
    metadata,
    Column("user_id", UUID(as_uuid=False), primary_key=True),
    Column("email", Text),  # NULL for a guest
    Column("full_name", Text, nullable=False),
    Column("phone", Text),
    Column("channels", ARRAY(Text), nullable=False, server_default=text("'{email}'")),
    Column("guest", Boolean, nullable=False, server_default=text("false")),
    # Once a user.profile_updated was applied, auth's account events no longer change the
    # contact's name, email or guest flag (the profile is the newer word on them).
    Column("profile_seen", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

notifications = Table(
    "notifications",
    metadata,
    Column("notification_id", UUID(as_uuid=False), primary_key=True),
    Column("user_id", UUID(as_uuid=False), nullable=False),
    Column("event_id", UUID(as_uuid=False), nullable=False),
    Column("kind", Text, nullable=False),
    Column("channel", Text, nullable=False, server_default="email"),
    # NULL until the customer's contact is known (contacts come on other topics); NULL in_app.
    Column("recipient", Text),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("status", Text, nullable=False, server_default="PENDING"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True)),
    # One notification per event and channel, even if the inbox were bypassed.
    UniqueConstraint("event_id", "channel", name="notifications_event_channel_key"),
)
