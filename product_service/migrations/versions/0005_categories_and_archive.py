"""Categories (unique slug), a product's category, and archived products.

Revision ID: product_0005
Revises: product_0004
"""

from alembic import op

revision = "product_0005"
down_revision = "product_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    -- The slug names the category in URLs and never changes; the API derives or checks it, the
    -- CHECK is the last line of defence. Unique: of two admins adding one slug, one gets 409.
    CREATE TABLE categories (
        category_id uuid PRIMARY KEY,
        name        text NOT NULL,
        slug        text NOT NULL CONSTRAINT categories_slug_unique UNIQUE
                    CONSTRAINT categories_slug_form CHECK (
                        slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(slug) <= 100
                    ),
        description text,
        created_at  timestamptz NOT NULL DEFAULT now(),
        updated_at  timestamptz NOT NULL DEFAULT now()
    );

    -- A category with products in it (archived ones too: they keep their category for the
    -- orders that hold them) cannot be deleted; the foreign key is the last line of defence
    -- behind that rule. Adding nullable columns without a default rewrites no row.
    ALTER TABLE products
        ADD COLUMN category_id uuid CONSTRAINT products_category_exists
            REFERENCES categories (category_id),
        ADD COLUMN archived_at timestamptz;
    -- A category's products (the filter, the emptiness check, the foreign key's checks).
    CREATE INDEX products_category ON products (category_id, created_at, product_id);
    -- The catalog lists the products not archived, oldest first.
    CREATE INDEX products_listed ON products (created_at, product_id) WHERE archived_at IS NULL;
    """)


def downgrade() -> None:
    op.execute("""
    DROP INDEX products_listed;
    DROP INDEX products_category;
    ALTER TABLE products DROP COLUMN archived_at, DROP COLUMN category_id;
    DROP TABLE categories;
    """)
