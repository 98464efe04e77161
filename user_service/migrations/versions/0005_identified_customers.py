"""Identified customers and guests: the CPF (unique), notification channels, roles, guests
without an email.

Profiles made before this revision get the role ``customer``: they were made from
account.registered, whose roles were not kept; an account's next roles_changed corrects them.

Revision ID: user_0005
Revises: user_0004
"""

from alembic import op

revision = "user_0005"
down_revision = "user_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE profiles
        ALTER COLUMN email DROP NOT NULL,
        ADD COLUMN national_id text CONSTRAINT profiles_national_id_digits
            CHECK (national_id ~ '^[0-9]{11}$'),
        ADD COLUMN notification_channels text[] NOT NULL DEFAULT '{email}'
            CONSTRAINT profiles_notification_channels_known
            CHECK (notification_channels <@ ARRAY['email', 'sms']),
        ADD COLUMN roles text[] NOT NULL DEFAULT '{customer}',
        ADD COLUMN guest boolean NOT NULL DEFAULT false;
    -- One profile per CPF; also how staff find a customer by CPF.
    CREATE UNIQUE INDEX profiles_national_id ON profiles (national_id);
    """)


def downgrade() -> None:
    op.execute("""
    DROP INDEX profiles_national_id;
    -- The older schema cannot hold a profile without an email: guests' profiles go.
    DELETE FROM profiles WHERE email IS NULL;
    ALTER TABLE profiles
        DROP COLUMN guest,
        DROP COLUMN roles,
        DROP COLUMN notification_channels,
        DROP COLUMN national_id,
        ALTER COLUMN email SET NOT NULL;
    """)
