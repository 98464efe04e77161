"""Login throttling counted before the password check: a lockout row per account, one per
(account, address it logged in from), a leaky bucket per client address. Replaces
login_failures, whose count was read before the check and written after it.

Revision ID: auth_0006
Revises: auth_0005
"""

from alembic import op

revision = "auth_0006"
down_revision = "auth_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    DROP TABLE login_failures;
    CREATE TABLE login_account_lockouts (
        email           text PRIMARY KEY,
        failures        integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
        locked_until    timestamptz,
        last_failure_at timestamptz
    );
    CREATE INDEX login_account_lockouts_last_failure ON login_account_lockouts (last_failure_at);
    CREATE TABLE login_known_addresses (
        email           text NOT NULL,
        address         text NOT NULL,
        last_login_at   timestamptz NOT NULL,
        failures        integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
        locked_until    timestamptz,
        last_failure_at timestamptz,
        PRIMARY KEY (email, address)
    );
    CREATE INDEX login_known_addresses_last_login ON login_known_addresses (last_login_at);
    CREATE TABLE login_address_buckets (
        address    text PRIMARY KEY,
        level      double precision NOT NULL DEFAULT 0 CHECK (level >= 0),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX login_address_buckets_updated ON login_address_buckets (updated_at);
    """)


def downgrade() -> None:
    op.execute("""
    DROP TABLE login_address_buckets;
    DROP TABLE login_known_addresses;
    DROP TABLE login_account_lockouts;
    CREATE TABLE login_failures (
        email     text NOT NULL,
        address   text NOT NULL,
        failed_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX login_failures_email ON login_failures (email, failed_at);
    CREATE INDEX login_failures_address ON login_failures (address, failed_at);
    """)
