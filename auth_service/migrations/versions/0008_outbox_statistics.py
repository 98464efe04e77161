"""ANALYZE samples only the outbox columns the relay filters on (servicekit.messaging.schema).

Revision ID: auth_0008
Revises: auth_0007
"""

from alembic import op

from servicekit.messaging.schema import DEFAULT_OUTBOX_STATISTICS_DDL, OUTBOX_STATISTICS_DDL

revision = "auth_0008"
down_revision = "auth_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(OUTBOX_STATISTICS_DDL)


def downgrade() -> None:
    op.execute(DEFAULT_OUTBOX_STATISTICS_DDL)
