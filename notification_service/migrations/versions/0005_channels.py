"""SMS and in-app notifications, the new kinds, and contacts that know channels and guests.

One notification per (event, channel) instead of per event; SKIPPED for a notification recorded
before its customer was known on a channel the customer turned out not to take. A contact gains
its phone, chosen channels and guest flag, and whether a profile was seen (user.profile_updated
then outranks auth's account events); a guest's contact has no email.

Revision ID: notification_0005
Revises: notification_0004
"""

from alembic import op

revision = "notification_0005"
down_revision = "notification_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE contacts
        ALTER COLUMN email DROP NOT NULL,
        ADD COLUMN phone text,
        ADD COLUMN channels text[] NOT NULL DEFAULT '{email}',
        ADD COLUMN guest boolean NOT NULL DEFAULT false,
        ADD COLUMN profile_seen boolean NOT NULL DEFAULT false;
    ALTER TABLE notifications
        DROP CONSTRAINT notifications_event_id_key,
        ADD CONSTRAINT notifications_event_channel_key UNIQUE (event_id, channel),
        DROP CONSTRAINT notifications_kind_check,
        ADD CONSTRAINT notifications_kind_check CHECK (kind IN
            ('welcome', 'order_placed', 'order_confirmed', 'order_cancelled', 'order_rejected',
             'order_shipped', 'order_delivered')),
        DROP CONSTRAINT notifications_channel_check,
        ADD CONSTRAINT notifications_channel_check CHECK (channel IN ('email', 'sms', 'in_app')),
        DROP CONSTRAINT notifications_status_check,
        ADD CONSTRAINT notifications_status_check
            CHECK (status IN ('PENDING', 'SENT', 'FAILED', 'SKIPPED'));
    """)


def downgrade() -> None:
    op.execute("""
    DELETE FROM notifications WHERE channel <> 'email' OR kind NOT IN
        ('welcome', 'order_confirmed', 'order_cancelled', 'order_rejected');
    UPDATE notifications SET status = 'FAILED' WHERE status = 'SKIPPED';
    ALTER TABLE notifications
        DROP CONSTRAINT notifications_status_check,
        ADD CONSTRAINT notifications_status_check CHECK (status IN ('PENDING', 'SENT', 'FAILED')),
        DROP CONSTRAINT notifications_channel_check,
        ADD CONSTRAINT notifications_channel_check CHECK (channel IN ('email')),
        DROP CONSTRAINT notifications_kind_check,
        ADD CONSTRAINT notifications_kind_check CHECK (kind IN
            ('welcome', 'order_confirmed', 'order_cancelled', 'order_rejected')),
        DROP CONSTRAINT notifications_event_channel_key,
        ADD CONSTRAINT notifications_event_id_key UNIQUE (event_id);
    DELETE FROM contacts WHERE email IS NULL;
    ALTER TABLE contacts
        DROP COLUMN profile_seen, DROP COLUMN guest, DROP COLUMN channels, DROP COLUMN phone,
        ALTER COLUMN email SET NOT NULL;
    """)
