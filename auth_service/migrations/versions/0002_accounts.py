"""Accounts, refresh tokens, signing keys, login failures.

Revision ID: auth_0002
Revises: auth_0001
"""

from alembic import op

revision = "auth_0002"
down_revision = "auth_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE accounts (
        user_id       uuid PRIMARY KEY,
        email         text NOT NULL UNIQUE,
        full_name     text NOT NULL,
        password_hash text NOT NULL,
        roles         text[] NOT NULL,
        created_at    timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE refresh_tokens (
        token_id   uuid PRIMARY KEY,
        family_id  uuid NOT NULL,
        user_id    uuid NOT NULL REFERENCES accounts (user_id),
        token_hash text NOT NULL UNIQUE,
        issued_at  timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        rotated_at timestamptz,
        revoked_at timestamptz
    );
    CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
    CREATE TABLE signing_keys (
        kid         text PRIMARY KEY,
        private_pem text NOT NULL,
        public_jwk  jsonb NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now(),
        active      boolean NOT NULL DEFAULT true,
        retired_at  timestamptz
    );
    CREATE TABLE login_failures (
        email     text NOT NULL,
        address   text NOT NULL,
        failed_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX login_failures_email ON login_failures (email, failed_at);
    CREATE INDEX login_failures_address ON login_failures (address, failed_at);
    """)


def downgrade() -> None:
    op.execute(
        "DROP TABLE login_failures; DROP TABLE signing_keys; DROP TABLE refresh_tokens;"
        " DROP TABLE accounts;"
    )
