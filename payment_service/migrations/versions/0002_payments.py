"""Payments: one row per order.

Revision ID: payment_0002
Revises: payment_0001
"""

from alembic import op

revision = "payment_0002"
down_revision = "payment_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE payments (
        payment_id  uuid PRIMARY KEY,
        order_id    uuid NOT NULL UNIQUE,
        customer_id uuid NOT NULL,
        amount      numeric(12, 2) NOT NULL,
        currency    text NOT NULL,
        status      text NOT NULL
                    CHECK (status IN ('AUTHORIZED', 'DECLINED', 'REFUNDED', 'VOIDED')),
        reason      text,
        created_at  timestamptz NOT NULL DEFAULT now(),
        updated_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX payments_customer ON payments (customer_id, created_at DESC);
    """)


def downgrade() -> None:
    op.execute("DROP TABLE payments")
