"""Products with their stock counters, admin stock adjustments, reservations per order.

Revision ID: product_0002
Revises: product_0001
"""

from alembic import op

revision = "product_0002"
down_revision = "product_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE EXTENSION IF NOT EXISTS pg_trgm;

    -- Conservation: initial + adjusted = available + reserved + sold. Orders move units between
    -- available, reserved and sold; an admin setting the available quantity adds the difference
    -- to adjusted. The CHECKs are the last line of defence behind the handlers.
    CREATE TABLE products (
        product_id      uuid PRIMARY KEY,
        sku             text NOT NULL,
        name            text NOT NULL,
        description     text,
        price           numeric(12, 2) NOT NULL CONSTRAINT products_price_positive CHECK (price > 0),
        currency        text NOT NULL CONSTRAINT products_currency_iso CHECK (currency ~ '^[A-Z]{3}$'),
        stock_initial   bigint NOT NULL CONSTRAINT products_stock_initial_nonneg CHECK (stock_initial >= 0),
        stock_adjusted  bigint NOT NULL DEFAULT 0,
        stock_available bigint NOT NULL CONSTRAINT products_stock_available_nonneg CHECK (stock_available >= 0),
        stock_reserved  bigint NOT NULL DEFAULT 0 CONSTRAINT products_stock_reserved_nonneg CHECK (stock_reserved >= 0),
        stock_sold      bigint NOT NULL DEFAULT 0 CONSTRAINT products_stock_sold_nonneg CHECK (stock_sold >= 0),
        created_at      timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT products_stock_conserved CHECK (
            stock_initial + stock_adjusted = stock_available + stock_reserved + stock_sold
        )
    );
    CREATE UNIQUE INDEX products_sku_unique ON products (lower(sku));
    CREATE INDEX products_created ON products (created_at, product_id);
    -- Substring search (ILIKE '%q%') on name and sku.
    CREATE INDEX products_name_trgm ON products USING gin (name gin_trgm_ops);
    CREATE INDEX products_sku_trgm ON products USING gin (sku gin_trgm_ops);

    -- Every admin change of the available quantity: sum(delta) = products.stock_adjusted.
    CREATE TABLE stock_adjustments (
        adjustment_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        product_id      uuid NOT NULL REFERENCES products (product_id),
        delta           bigint NOT NULL,
        stock_available bigint NOT NULL,
        adjusted_by     text NOT NULL,
        correlation_id  text,
        created_at      timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX stock_adjustments_product ON stock_adjustments (product_id, adjustment_id);

    -- One per order that asked for stock; only RESERVED holds units (its lines).
    CREATE TABLE reservations (
        order_id       uuid PRIMARY KEY,
        customer_id    text NOT NULL,
        status         text NOT NULL CONSTRAINT reservations_status_known
                       CHECK (status IN ('RESERVED', 'RELEASED', 'COMMITTED', 'FAILED')),
        currency       text NOT NULL,
        total          numeric(14, 2),
        deadline_at    timestamptz,
        failure_reason text,
        created_at     timestamptz NOT NULL DEFAULT now(),
        updated_at     timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT reservations_failed_has_reason CHECK (
            (status = 'FAILED') = (failure_reason IS NOT NULL)
        ),
        CONSTRAINT reservations_held_has_total CHECK (status = 'FAILED' OR total IS NOT NULL)
    );
    CREATE INDEX reservations_held ON reservations (created_at) WHERE status = 'RESERVED';

    CREATE TABLE reservation_lines (
        order_id   uuid NOT NULL REFERENCES reservations (order_id),
        product_id uuid NOT NULL REFERENCES products (product_id),
        quantity   bigint NOT NULL CONSTRAINT reservation_lines_quantity_positive CHECK (quantity > 0),
        unit_price numeric(12, 2) NOT NULL,
        PRIMARY KEY (order_id, product_id)
    );
    CREATE INDEX reservation_lines_product ON reservation_lines (product_id);
    """)


def downgrade() -> None:
    op.execute(
        "DROP TABLE reservation_lines; DROP TABLE reservations; DROP TABLE stock_adjustments;"
        " DROP TABLE products;"
    )
