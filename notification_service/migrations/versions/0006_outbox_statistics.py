"""ANALYZE samples only the outbox columns the relay filters on (servicekit.messaging.schema).

Revision ID: notification_0006
Revises: notification_0005
"""

from alembic import op

from servicekit.messaging.schema import DEFAULT_OUTBOX_STATISTICS_DDL, OUTBOX_STATISTICS_DDL

revision = "notification_0006"
down_revision = "notification_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(OUTBOX_STATISTICS_DDL)


def downgrade() -> None:
    op.execute(DEFAULT_OUTBOX_STATISTICS_DDL)
