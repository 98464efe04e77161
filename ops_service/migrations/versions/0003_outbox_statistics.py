"""ANALYZE samples only the outbox columns the relay filters on (servicekit.messaging.schema).

Revision ID: ops_0003
Revises: ops_0002
"""

from alembic import op

from servicekit.messaging.schema import DEFAULT_OUTBOX_STATISTICS_DDL, OUTBOX_STATISTICS_DDL

revision = "ops_0003"
down_revision = "ops_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(OUTBOX_STATISTICS_DDL)


def downgrade() -> None:
    op.execute(DEFAULT_OUTBOX_STATISTICS_DDL)
