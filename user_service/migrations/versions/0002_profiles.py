"""Profiles.

Revision ID: user_0002
Revises: user_0001
"""

from alembic import op

revision = "user_0002"
down_revision = "user_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE profiles (
        user_id    uuid PRIMARY KEY,
        email      text NOT NULL,
        full_name  text NOT NULL,
        phone      text,
        addresses  jsonb NOT NULL DEFAULT '[]'::jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX profiles_created ON profiles (created_at, user_id);
    """)


def downgrade() -> None:
    op.execute("DROP TABLE profiles")
