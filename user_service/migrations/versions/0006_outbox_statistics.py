"""ANALYZE samples only the outbox columns the relay filters on (servicekit.messaging.schema).

Revision ID: user_0006
Revises: user_0005
"""

from alembic import op

from servicekit.messaging.schema import DEFAULT_OUTBOX_STATISTICS_DDL, OUTBOX_STATISTICS_DDL

revision = "user_0006"
down_revision = "user_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(OUTBOX_STATISTICS_DDL)


def downgrade() -> None:
    op.execute(DEFAULT_OUTBOX_STATISTICS_DDL)
