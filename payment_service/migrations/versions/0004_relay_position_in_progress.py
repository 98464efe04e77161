"""The relay's mark also records the transactions it still waits for below its cursor.

Revision ID: payment_0004
Revises: payment_0003
"""

from alembic import op

from servicekit.messaging.schema import (
    DROP_RELAY_POSITION_IN_PROGRESS_DDL,
    RELAY_POSITION_IN_PROGRESS_DDL,
)

revision = "payment_0004"
down_revision = "payment_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(RELAY_POSITION_IN_PROGRESS_DDL)


def downgrade() -> None:
    op.execute(DROP_RELAY_POSITION_IN_PROGRESS_DDL)
