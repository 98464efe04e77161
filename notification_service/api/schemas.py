"""Response bodies of the notifications API (``/api/notifications``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class Notification(BaseModel):
    """One notification of the caller (never its body: that stays in the mailbox)."""

    notification_id: str
    kind: str
    channel: str
    subject: str
    status: str
    created_at: datetime
    sent_at: datetime | None
