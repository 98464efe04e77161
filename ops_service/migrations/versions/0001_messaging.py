"""Messaging tables: outbox, relay position, inbox (every service database has them; the relay
reads this outbox like any other).

Revision ID: ops_0001
Revises:
"""

from alembic import op

from servicekit.messaging.schema import DROP_MESSAGING_DDL, MESSAGING_DDL

revision = "ops_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(MESSAGING_DDL)


def downgrade() -> None:
    op.execute(DROP_MESSAGING_DDL)
