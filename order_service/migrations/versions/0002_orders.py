"""Orders, items, timeline, products read model.

Revision ID: order_0002
Revises: order_0001
"""

from alembic import op

revision = "order_0002"
down_revision = "order_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE orders (
        order_id         uuid PRIMARY KEY,
        customer_id      uuid NOT NULL,
        status           text NOT NULL,
        payment_status   text NOT NULL,
        inventory_status text NOT NULL,
        currency         text NOT NULL,
        total            numeric(12, 2) NOT NULL,
        failure_reason   text,
        idempotency_key  text,
        request_hash     text,
        deadline_at      timestamptz NOT NULL,
        created_at       timestamptz NOT NULL DEFAULT now(),
        updated_at       timestamptz NOT NULL DEFAULT now(),
        UNIQUE (customer_id, idempotency_key)
    );
    CREATE INDEX orders_customer ON orders (customer_id, created_at DESC);
    CREATE INDEX orders_status ON orders (status, created_at DESC);
    -- The timeout sweeper looks only at open sagas.
    CREATE INDEX orders_open_deadline ON orders (deadline_at)
        WHERE status IN ('PENDING', 'STOCK_RESERVED');
    CREATE TABLE order_items (
        order_id   uuid NOT NULL REFERENCES orders (order_id),
        product_id uuid NOT NULL,
        quantity   integer NOT NULL CHECK (quantity > 0),
        unit_price numeric(12, 2) NOT NULL,
        PRIMARY KEY (order_id, product_id)
    );
    CREATE TABLE order_timeline (
        id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        order_id   uuid NOT NULL,
        step       text NOT NULL,
        event_type text NOT NULL,
        service    text NOT NULL,
        event_id   uuid,
        at         timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX order_timeline_order ON order_timeline (order_id, id);
    CREATE TABLE products (
        product_id uuid PRIMARY KEY,
        sku        text NOT NULL,
        name       text NOT NULL,
        price      numeric(12, 2) NOT NULL,
        currency   text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    """)


def downgrade() -> None:
    op.execute(
        "DROP TABLE products; DROP TABLE order_timeline; DROP TABLE order_items; DROP TABLE orders;"
    )
