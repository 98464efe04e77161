"""Signing keys are kept encrypted under the key-encryption key (AUTH_KEY_ENCRYPTION_KEY).

The migration cannot encrypt (it does not hold the key-encryption key): it makes room for the
ciphertext, and the service encrypts every plaintext key on its next start, under the advisory
lock that also guards key creation (adapters/keys.py), then clears the plaintext column.

Revision ID: auth_0005
Revises: auth_0004
"""

from alembic import op

revision = "auth_0005"
down_revision = "auth_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE signing_keys ADD COLUMN private_key_encrypted text;
    ALTER TABLE signing_keys ALTER COLUMN private_pem DROP NOT NULL;
    ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_private_key_kept
        CHECK (private_pem IS NOT NULL OR private_key_encrypted IS NOT NULL);
    """)


def downgrade() -> None:
    # Keys encrypted since cannot be turned back into plaintext here: refuse rather than lose them.
    op.execute("""
    DO $$
    BEGIN
        IF EXISTS (SELECT 1 FROM signing_keys WHERE private_pem IS NULL) THEN
            RAISE EXCEPTION 'signing keys are encrypted; downgrading would lose them';
        END IF;
    END $$;
    ALTER TABLE signing_keys DROP CONSTRAINT signing_keys_private_key_kept;
    ALTER TABLE signing_keys ALTER COLUMN private_pem SET NOT NULL;
    ALTER TABLE signing_keys DROP COLUMN private_key_encrypted;
    """)
