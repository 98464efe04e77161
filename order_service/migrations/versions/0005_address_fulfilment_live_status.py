"""Orders keep their delivery address, payment method and correlation id, go through
fulfilment, count their versions and announce every committed change (NOTIFY order_changed,
the order id as payload: the live status streams listen); the catalog read model keeps each
product's category and archive, and a categories read model.

Revision ID: order_0005
Revises: order_0004
"""

from alembic import op

revision = "order_0005"
down_revision = "order_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE orders
        ADD COLUMN delivery_address      jsonb,
        ADD COLUMN payment_method        text NOT NULL DEFAULT 'card',
        ADD COLUMN correlation_id        text,
        ADD COLUMN fulfilment_status     text NOT NULL DEFAULT 'NOT_STARTED',
        ADD COLUMN fulfilment_updated_at timestamptz,
        -- One more on every write of the row: a stream never sends an older state after a
        -- newer one.
        ADD COLUMN version               bigint NOT NULL DEFAULT 1;
    -- The staff board lists orders by fulfilment status, newest first.
    CREATE INDEX orders_fulfilment ON orders (fulfilment_status, created_at DESC);

    ALTER TABLE products
        ADD COLUMN category_id uuid,
        ADD COLUMN archived_at timestamptz;
    CREATE TABLE categories (
        category_id uuid PRIMARY KEY,
        name        text NOT NULL,
        slug        text NOT NULL,
        description text,
        updated_at  timestamptz NOT NULL DEFAULT now()
    );

    -- Delivered to listeners when the writing transaction commits (never for one that rolls
    -- back); PostgreSQL folds repeats of the same order id within one transaction into one.
    CREATE FUNCTION orders_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('order_changed', NEW.order_id::text);
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER orders_notify_change AFTER INSERT OR UPDATE ON orders
        FOR EACH ROW EXECUTE FUNCTION orders_notify_change();
    """)


def downgrade() -> None:
    op.execute("""
    DROP TRIGGER orders_notify_change ON orders;
    DROP FUNCTION orders_notify_change();
    DROP TABLE categories;
    ALTER TABLE products DROP COLUMN archived_at, DROP COLUMN category_id;
    DROP INDEX orders_fulfilment;
    ALTER TABLE orders
        DROP COLUMN version,
        DROP COLUMN fulfilment_updated_at,
        DROP COLUMN fulfilment_status,
        DROP COLUMN correlation_id,
        DROP COLUMN payment_method,
        DROP COLUMN delivery_address;
    """)
