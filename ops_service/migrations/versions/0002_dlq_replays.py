"""Replays of dead letters, and the dead letters each settled.

Revision ID: ops_0002
Revises: ops_0001
"""

from alembic import op

revision = "ops_0002"
down_revision = "ops_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE dlq_replays (
        replay_id     uuid PRIMARY KEY,
        replayed_by   text NOT NULL,
        replayed_at   timestamptz NOT NULL,
        topic         text NOT NULL,
        event_ids     text[] NOT NULL,
        message_count integer NOT NULL CHECK (message_count > 0)
    );
    CREATE INDEX dlq_replays_replayed_at ON dlq_replays (replayed_at DESC);
    CREATE TABLE dlq_replayed_letters (
        topic           text NOT NULL,
        kafka_partition integer NOT NULL,
        kafka_offset    bigint NOT NULL,
        replay_id       uuid NOT NULL REFERENCES dlq_replays (replay_id),
        PRIMARY KEY (topic, kafka_partition, kafka_offset)
    );
    """)


def downgrade() -> None:
    op.execute("DROP TABLE dlq_replayed_letters; DROP TABLE dlq_replays")
