"""user_service app: ``create_app()`` only; ``python -m user_service`` serves it."""

from __future__ import annotations

from fastapi import FastAPI

from servicekit.web import create_service_app
from user_service.api.routes import router
from user_service.consumers import build_consumers
from user_service.settings import UserSettings


def create_app(settings: UserSettings | None = None) -> FastAPI:
    """The user service."""
    return create_service_app(
        name="user-service",
        title="user_service",
        settings=settings or UserSettings(),
        routers=[router],
        consumers=build_consumers,
    )
