"""Reads of notifications for the API, apart from the use cases: a customer's own, newest first,
never with their bodies (those stay in the mailbox), and never the SKIPPED ones (recorded before
the customer was known, on a channel they turned out not to take: nothing was meant for them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from servicekit.db import sql

_LIST = """
SELECT notification_id::text AS notification_id, kind, channel, subject, status, created_at,
       sent_at
FROM notifications WHERE user_id = %(user_id)s::uuid AND status <> 'SKIPPED'
ORDER BY created_at DESC, notification_id LIMIT %(limit)s
"""


def list_notifications(session: Session, *, user_id: str, limit: int) -> list[dict[str, Any]]:
    """A user's notifications, newest first."""
    rows = sql(session, _LIST, {"user_id": user_id, "limit": limit}).mappings()
    return [dict(row) for row in rows]
