"""Outbox notifications carry the writing transaction's id (see the relay's fetch loop).

Revision ID: auth_0003
Revises: auth_0002
"""

from alembic import op

from servicekit.messaging.schema import NOTIFY_FUNCTION_DDL, NOTIFY_FUNCTION_DDL_V1

revision = "auth_0003"
down_revision = "auth_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(NOTIFY_FUNCTION_DDL)


def downgrade() -> None:
    op.execute(NOTIFY_FUNCTION_DDL_V1)
