"""Charges the merchant cancels before they are paid (an order cancelled while its QR code was
still open): a fifth status, ``cancelled``, with its timestamp.

Revision ID: provider_0002
Revises: provider_0001
"""

from alembic import op

revision = "provider_0002"
down_revision = "provider_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE charges ADD COLUMN cancelled_at timestamptz;
    ALTER TABLE charges DROP CONSTRAINT charges_status_check;
    ALTER TABLE charges ADD CONSTRAINT charges_status_check
        CHECK (status IN ('pending', 'paid', 'expired', 'refunded', 'cancelled'));
    ALTER TABLE charges DROP CONSTRAINT charges_status_timestamps;
    ALTER TABLE charges ADD CONSTRAINT charges_status_timestamps CHECK (cancelled_at IS NULL
        OR status = 'cancelled');
    ALTER TABLE charges ADD CONSTRAINT charges_status_timestamps_each CHECK (CASE status
        WHEN 'pending' THEN paid_at IS NULL AND expired_at IS NULL AND refunded_at IS NULL
        WHEN 'paid' THEN paid_at IS NOT NULL AND expired_at IS NULL AND refunded_at IS NULL
        WHEN 'expired' THEN expired_at IS NOT NULL AND paid_at IS NULL AND refunded_at IS NULL
        WHEN 'refunded' THEN paid_at IS NOT NULL AND refunded_at IS NOT NULL
                             AND expired_at IS NULL
        WHEN 'cancelled' THEN cancelled_at IS NOT NULL AND paid_at IS NULL
                              AND expired_at IS NULL AND refunded_at IS NULL
    END);
    """)


def downgrade() -> None:
    op.execute("""
    DELETE FROM webhook_outbox WHERE charge_id IN
        (SELECT charge_id FROM charges WHERE status = 'cancelled');
    DELETE FROM idempotency_keys WHERE charge_id IN
        (SELECT charge_id FROM charges WHERE status = 'cancelled');
    DELETE FROM charges WHERE status = 'cancelled';
    ALTER TABLE charges DROP CONSTRAINT charges_status_timestamps_each;
    ALTER TABLE charges DROP CONSTRAINT charges_status_timestamps;
    ALTER TABLE charges ADD CONSTRAINT charges_status_timestamps CHECK (CASE status
        WHEN 'pending' THEN paid_at IS NULL AND expired_at IS NULL AND refunded_at IS NULL
        WHEN 'paid' THEN paid_at IS NOT NULL AND expired_at IS NULL AND refunded_at IS NULL
        WHEN 'expired' THEN expired_at IS NOT NULL AND paid_at IS NULL AND refunded_at IS NULL
        WHEN 'refunded' THEN paid_at IS NOT NULL AND refunded_at IS NOT NULL
                             AND expired_at IS NULL
    END);
    ALTER TABLE charges DROP CONSTRAINT charges_status_check;
    ALTER TABLE charges ADD CONSTRAINT charges_status_check
        CHECK (status IN ('pending', 'paid', 'expired', 'refunded'));
    ALTER TABLE charges DROP COLUMN cancelled_at;
    """)
