"""pix payments: the payment's method and provider charge, the calls to the provider it owes,
and the provider's webhooks received (deduplicated by id).

Revision ID: payment_0005
Revises: payment_0004
"""

from alembic import op

revision = "payment_0005"
down_revision = "payment_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE payments
        ADD COLUMN method      text NOT NULL DEFAULT 'card',
        ADD COLUMN charge_id   uuid,
        ADD COLUMN qr_code     text,
        ADD COLUMN qr_code_png text,
        ADD COLUMN expires_at  timestamptz,
        -- pix: the saga deadline, which the charge's expiry follows.
        ADD COLUMN deadline_at timestamptz;
    ALTER TABLE payments DROP CONSTRAINT payments_status_check;
    ALTER TABLE payments ADD CONSTRAINT payments_status_check CHECK (status IN ('PENDING',
        'AWAITING_PAYMENT', 'AUTHORIZED', 'DECLINED', 'REFUNDING', 'REFUNDED', 'VOIDED'));
    ALTER TABLE payments ADD CONSTRAINT payments_method_check CHECK (method IN ('card', 'pix'));
    CREATE UNIQUE INDEX payments_charge_id ON payments (charge_id) WHERE charge_id IS NOT NULL;

    -- Calls to the payment provider, recorded in the transaction that decided them and made
    -- after it (never inside a transaction), retried with backoff until they succeed. call_id
    -- is the Idempotency-Key the provider sees: a retry never makes a second charge or refund.
    -- One of each kind per order: a refund is asked at most once per payment.
    CREATE TABLE provider_calls (
        call_id         uuid PRIMARY KEY,
        order_id        uuid NOT NULL,
        kind            text NOT NULL
                        CHECK (kind IN ('create_charge', 'cancel_charge', 'refund_charge')),
        status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done')),
        attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_error      text,
        created_at      timestamptz NOT NULL DEFAULT now(),
        done_at         timestamptz,
        UNIQUE (order_id, kind)
    );
    CREATE INDEX provider_calls_due ON provider_calls (next_attempt_at) WHERE status = 'pending';

    -- Webhooks from the provider, one row per webhook id, written in the transaction of their
    -- effect: a redelivery finds its row and changes nothing.
    CREATE TABLE provider_webhooks (
        webhook_id  text PRIMARY KEY,
        event_type  text NOT NULL,
        charge_id   uuid,
        order_id    uuid,
        outcome     text NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now()
    );
    """)


def downgrade() -> None:
    op.execute("""
    DROP TABLE provider_webhooks, provider_calls;
    DELETE FROM payments WHERE method = 'pix';
    ALTER TABLE payments DROP CONSTRAINT payments_method_check;
    ALTER TABLE payments DROP CONSTRAINT payments_status_check;
    ALTER TABLE payments ADD CONSTRAINT payments_status_check
        CHECK (status IN ('AUTHORIZED', 'DECLINED', 'REFUNDED', 'VOIDED'));
    DROP INDEX payments_charge_id;
    ALTER TABLE payments DROP COLUMN method, DROP COLUMN charge_id, DROP COLUMN qr_code,
        DROP COLUMN qr_code_png, DROP COLUMN expires_at, DROP COLUMN deadline_at;
    """)
