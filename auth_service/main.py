"""auth_service app: ``create_app()`` only; ``python -m auth_service`` serves it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from auth_service.adapters.keys import ensure_signing_key
from auth_service.api.routes import router
from auth_service.application import handlers
from auth_service.application.handlers import AuthDeps
from auth_service.application.tokens import TokenIssuer
from auth_service.settings import AuthSettings
from servicekit.web import ServiceRuntime, create_service_app


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    """The auth service."""
    settings = settings or AuthSettings()

    def start(runtime: ServiceRuntime) -> None:
        sessions = runtime.database.sessions
        with sessions() as session, session.begin():
            ensure_signing_key(session)
        issuer = TokenIssuer(
            sessions,
            access_ttl=settings.access_token_ttl_seconds,
            reload_seconds=settings.key_reload_seconds,
        )
        deps = AuthDeps(settings, handlers.password_context(settings), issuer)
        runtime.extras["auth"] = deps
        with sessions() as session:
            handlers.ensure_admin(session, deps)

    def local_jwks(runtime: ServiceRuntime, _client: Any) -> Any:
        # The auth service verifies tokens with its own keys, read from its own database.
        async def fetch() -> dict[str, Any]:
            from fastapi.concurrency import run_in_threadpool

            deps: AuthDeps = runtime.extras["auth"]
            return await run_in_threadpool(deps.issuer.jwks)

        return fetch

    return create_service_app(
        name="auth-service",
        title="auth_service",
        settings=settings,
        routers=[router],
        on_startup=start,
        jwks=local_jwks,
    )
