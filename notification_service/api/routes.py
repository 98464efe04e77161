"""Notifications endpoints."""

from __future__ import annotations

from fastapi import APIRouter

from notification_service.api.schemas import Notification
from notification_service.application import handlers
from servicekit.api import Limit
from servicekit.web import CurrentUser, SessionDep

router = APIRouter(prefix="/api/notifications", tags=["notifications"])


@router.get("")
def list_notifications(
    user: CurrentUser,
    session: SessionDep,
    limit: Limit = 100,
) -> list[Notification]:
    """The caller's notifications, newest first; a bare JSON list."""
    rows = handlers.list_notifications(session, user_id=user.user_id, limit=limit)
    return [
        Notification(
            notification_id=str(row["notification_id"]),
            kind=row["kind"],
            channel=row["channel"],
            subject=row["subject"],
            status=row["status"],
            created_at=row["created_at"],
            sent_at=row["sent_at"],
        )
        for row in rows
    ]
