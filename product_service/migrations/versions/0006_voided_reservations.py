"""VOIDED reservations: an order that ended before its order.created reached this service.

Revision ID: product_0006
Revises: product_0005
"""

from alembic import op

revision = "product_0006"
down_revision = "product_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    -- order.cancelled (or order.rejected) for an order with no reservation yet leaves a VOIDED
    -- one, which holds nothing and says why: its order.created, replayed later from a dead
    -- letter topic, then finds a reservation and reserves nothing for an order that is over.
    -- The currency is not known then (it comes with order.created): only VOIDED may lack it.
    ALTER TABLE reservations
        ALTER COLUMN currency DROP NOT NULL,
        DROP CONSTRAINT reservations_status_known,
        DROP CONSTRAINT reservations_failed_has_reason,
        DROP CONSTRAINT reservations_held_has_total,
        ADD CONSTRAINT reservations_status_known
            CHECK (status IN ('RESERVED', 'RELEASED', 'COMMITTED', 'FAILED', 'VOIDED')),
        ADD CONSTRAINT reservations_unheld_has_reason
            CHECK ((status IN ('FAILED', 'VOIDED')) = (failure_reason IS NOT NULL)),
        ADD CONSTRAINT reservations_held_has_total
            CHECK (status IN ('FAILED', 'VOIDED') OR total IS NOT NULL),
        ADD CONSTRAINT reservations_has_currency CHECK (status = 'VOIDED' OR currency IS NOT NULL);
    """)


def downgrade() -> None:
    op.execute("""
    DELETE FROM reservations WHERE status = 'VOIDED';
    ALTER TABLE reservations
        DROP CONSTRAINT reservations_has_currency,
        DROP CONSTRAINT reservations_held_has_total,
        DROP CONSTRAINT reservations_unheld_has_reason,
        DROP CONSTRAINT reservations_status_known,
        ALTER COLUMN currency SET NOT NULL,
        ADD CONSTRAINT reservations_status_known
            CHECK (status IN ('RESERVED', 'RELEASED', 'COMMITTED', 'FAILED')),
        ADD CONSTRAINT reservations_failed_has_reason
            CHECK ((status = 'FAILED') = (failure_reason IS NOT NULL)),
        ADD CONSTRAINT reservations_held_has_total CHECK (status = 'FAILED' OR total IS NOT NULL);
    """)
