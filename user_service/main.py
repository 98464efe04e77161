"""user_service app: ``create_app()`` wires the parts; ``python -m user_service`` serves it."""

from __future__ import annotations

import functools

from fastapi import FastAPI

from servicekit.messaging.unit_of_work import transaction
from servicekit.runtime import ServiceRuntime
from servicekit.service_app import create_service_app
from user_service.adapters.repository import SqlUserUnitOfWork
from user_service.api.errors import ERROR_STATUSES
from user_service.api.routes import router
from user_service.consumers import SUBSCRIPTIONS
from user_service.settings import UserSettings


def create_app(settings: UserSettings | None = None) -> FastAPI:
    """The user service."""

    def start(runtime: ServiceRuntime) -> None:
        runtime.extras["unit_of_work"] = functools.partial(
            transaction, runtime.database.sessions, SqlUserUnitOfWork
        )

    return create_service_app(
        name="user-service",
        title="user_service",
        settings=settings or UserSettings(),
        routers=[router],
        subscriptions=SUBSCRIPTIONS,
        error_statuses=ERROR_STATUSES,
        on_startup=start,
    )
