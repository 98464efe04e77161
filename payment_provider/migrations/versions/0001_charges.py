"""Charges, idempotency keys, and the outbox of webhooks to the merchant.

Revision ID: provider_0001
Revises:
"""

from alembic import op

revision = "provider_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE charges (
        charge_id        uuid PRIMARY KEY,
        status           text NOT NULL
                         CHECK (status IN ('pending', 'paid', 'expired', 'refunded')),
        amount           numeric(12, 2) NOT NULL CHECK (amount > 0),
        currency         text NOT NULL,
        description      text,
        reference        text,
        notification_url text NOT NULL,
        txid             text NOT NULL UNIQUE,
        qr_code          text NOT NULL,
        qr_code_png      text NOT NULL,
        expires_at       timestamptz NOT NULL,
        created_at       timestamptz NOT NULL,
        paid_at          timestamptz,
        expired_at       timestamptz,
        refunded_at      timestamptz,
        -- The state machine, kept by the database too: one timestamp per transition taken.
        CONSTRAINT charges_status_timestamps CHECK (CASE status
            WHEN 'pending' THEN paid_at IS NULL AND expired_at IS NULL AND refunded_at IS NULL
            WHEN 'paid' THEN paid_at IS NOT NULL AND expired_at IS NULL AND refunded_at IS NULL
            WHEN 'expired' THEN expired_at IS NOT NULL AND paid_at IS NULL AND refunded_at IS NULL
            WHEN 'refunded' THEN paid_at IS NOT NULL AND refunded_at IS NOT NULL
                                 AND expired_at IS NULL
        END)
    );
    CREATE INDEX charges_pending_expiry ON charges (expires_at) WHERE status = 'pending';
    CREATE INDEX charges_reference ON charges (reference, created_at) WHERE reference IS NOT NULL;

    -- The merchant's Idempotency-Key per operation: the same key returns the same charge.
    -- The charge is inserted after its key in the same transaction, hence the deferred check.
    CREATE TABLE idempotency_keys (
        operation  text NOT NULL CHECK (operation IN ('create_charge', 'refund_charge')),
        key        text NOT NULL,
        request    jsonb NOT NULL,
        charge_id  uuid NOT NULL REFERENCES charges DEFERRABLE INITIALLY DEFERRED,
        created_at timestamptz NOT NULL,
        PRIMARY KEY (operation, key)
    );

    -- Written in the transaction of the transition it reports; sent by the delivery workers.
    CREATE TABLE webhook_outbox (
        seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
        webhook_id      uuid PRIMARY KEY,
        charge_id       uuid NOT NULL REFERENCES charges,
        event_type      text NOT NULL
                        CHECK (event_type IN ('charge.paid', 'charge.expired', 'charge.refunded')),
        url             text NOT NULL,
        body            text NOT NULL,
        status          text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'delivered', 'abandoned')),
        attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        next_attempt_at timestamptz NOT NULL,
        last_status     integer,
        last_error      text,
        created_at      timestamptz NOT NULL,
        delivered_at    timestamptz,
        -- A charge takes each transition once, so it owes each webhook once.
        UNIQUE (charge_id, event_type)
    );
    CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at) WHERE status = 'pending';
    CREATE INDEX webhook_outbox_charge_pending ON webhook_outbox (charge_id, seq)
        WHERE status = 'pending';
    """)


def downgrade() -> None:
    op.execute("DROP TABLE webhook_outbox, idempotency_keys, charges")
