"""ANALYZE samples only the outbox columns the relay filters on (servicekit.messaging.schema).

Revision ID: product_0007
Revises: product_0006
"""

from alembic import op

from servicekit.messaging.schema import DEFAULT_OUTBOX_STATISTICS_DDL, OUTBOX_STATISTICS_DDL

revision = "product_0007"
down_revision = "product_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(OUTBOX_STATISTICS_DDL)


def downgrade() -> None:
    op.execute(DEFAULT_OUTBOX_STATISTICS_DDL)
