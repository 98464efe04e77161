"""Contacts and notifications.

Revision ID: notification_0002
Revises: notification_0001
"""

from alembic import op

revision = "notification_0002"
down_revision = "notification_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE contacts (
        user_id    uuid PRIMARY KEY,
        email      text NOT NULL,
        full_name  text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE notifications (
        notification_id uuid PRIMARY KEY,
        user_id         uuid NOT NULL,
        event_id        uuid NOT NULL UNIQUE,
        kind            text NOT NULL CHECK (kind IN
                            ('welcome', 'order_confirmed', 'order_cancelled', 'order_rejected')),
        channel         text NOT NULL DEFAULT 'email' CHECK (channel IN ('email')),
        recipient       text,
        subject         text NOT NULL,
        body            text NOT NULL,
        status          text NOT NULL DEFAULT 'PENDING'
                            CHECK (status IN ('PENDING', 'SENT', 'FAILED')),
        attempts        integer NOT NULL DEFAULT 0,
        last_error      text,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        created_at      timestamptz NOT NULL DEFAULT now(),
        sent_at         timestamptz
    );
    -- What the sender claims: due PENDING rows, oldest due first.
    CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'PENDING';
    CREATE INDEX notifications_user ON notifications (user_id, created_at DESC);
    """)


def downgrade() -> None:
    op.execute("DROP TABLE notifications; DROP TABLE contacts;")
