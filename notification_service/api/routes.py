"""Notifications endpoints: each one call to views.py (the service has no commands over HTTP)."""

from __future__ import annotations

from fastapi import APIRouter

from notification_service import views
from notification_service.api.schemas import Notification
from servicekit.api import Limit
from servicekit.dependencies import CurrentUser, SessionDep

router = APIRouter(prefix="/api/notifications", tags=["notifications"])


@router.get("")
def list_notifications(
    user: CurrentUser,
    session: SessionDep,
    limit: Limit = 100,
) -> list[Notification]:
    """The caller's notifications, newest first; a bare JSON list."""
    rows = views.list_notifications(session, user_id=user.user_id, limit=limit)
    return [Notification.model_validate(row) for row in rows]
