"""Guests and roles: a guest account has no email, name or password, so those columns become
nullable, and CHECK constraints keep the rule instead: a guest holds the one role ``guest`` and
no email or password; every other account has an email, a name and a password hash. Roles are
known ones (guest, customer, staff, admin), at least one. Guests made are counted per client
address (``guest_address_buckets``, the login throttle's address buckets' shape), and a guest's
refresh tokens are revoked by user_id when it registers (an index for that).

The constraints are added NOT VALID and validated after, so the table is not locked against
reads and writes while every existing row is checked.

Revision ID: auth_0007
Revises: auth_0006
"""

from alembic import op

revision = "auth_0007"
down_revision = "auth_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE accounts
        ALTER COLUMN email DROP NOT NULL,
        ALTER COLUMN full_name DROP NOT NULL,
        ALTER COLUMN password_hash DROP NOT NULL,
        ADD CONSTRAINT accounts_roles_known CHECK (
            cardinality(roles) >= 1
            AND roles <@ ARRAY['guest', 'customer', 'staff', 'admin']::text[]
        ) NOT VALID,
        ADD CONSTRAINT accounts_guest_or_registered CHECK (
            CASE WHEN 'guest' = ANY (roles)
                THEN roles = ARRAY['guest']::text[] AND email IS NULL AND password_hash IS NULL
                ELSE email IS NOT NULL AND full_name IS NOT NULL AND password_hash IS NOT NULL
            END
        ) NOT VALID;
    ALTER TABLE accounts VALIDATE CONSTRAINT accounts_roles_known;
    ALTER TABLE accounts VALIDATE CONSTRAINT accounts_guest_or_registered;
    CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
    CREATE TABLE guest_address_buckets (
        address    text PRIMARY KEY,
        level      double precision NOT NULL DEFAULT 0 CHECK (level >= 0),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX guest_address_buckets_updated ON guest_address_buckets (updated_at);
    """)


def downgrade() -> None:
    # Before this revision an account cannot be a guest: the guests (and their sessions) go.
    op.execute("""
    DROP TABLE guest_address_buckets;
    DROP INDEX refresh_tokens_user;
    DELETE FROM refresh_tokens
    WHERE user_id IN (SELECT user_id FROM accounts WHERE 'guest' = ANY (roles));
    DELETE FROM accounts WHERE 'guest' = ANY (roles);
    ALTER TABLE accounts
        DROP CONSTRAINT accounts_guest_or_registered,
        DROP CONSTRAINT accounts_roles_known,
        ALTER COLUMN email SET NOT NULL,
        ALTER COLUMN full_name SET NOT NULL,
        ALTER COLUMN password_hash SET NOT NULL;
    """)
