"""ops_service's tables; created by migrations/versions/0002_dlq_replays.py."""

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID

metadata = MetaData()

# One row per replay: who put which events back from which dead-letter topic, when.
dlq_replays = Table(
    "dlq_replays",
    metadata,
    Column("replay_id", UUID(as_uuid=False), primary_key=True),
    Column("replayed_by", Text, nullable=False),
    Column("replayed_at", DateTime(timezone=True), nullable=False),
    Column("topic", Text, nullable=False),
    Column("event_ids", ARRAY(Text), nullable=False),
    Column("message_count", Integer, nullable=False),
)

# Every dead letter a replay settled (all consumers' copies of each message it put back).
dlq_replayed_letters = Table(
    "dlq_replayed_letters",
    metadata,
    Column("topic", Text, primary_key=True),
    Column("kafka_partition", Integer, primary_key=True),
    Column("kafka_offset", BigInteger, primary_key=True),
    Column("replay_id", UUID(as_uuid=False), ForeignKey("dlq_replays.replay_id"), nullable=False),
)
