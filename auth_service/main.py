"""auth_service app: ``create_app()`` only; ``python -m auth_service`` serves it."""

from __future__ import annotations

import threading
from typing import Any

from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError

from auth_service.adapters.key_encryption import KeyEncryptionError, KeyEncryptionKeys
from auth_service.adapters.keys import ensure_signing_key
from auth_service.api.routes import router
from auth_service.application import handlers
from auth_service.application.handlers import AuthDeps
from auth_service.application.tokens import TokenIssuer
from auth_service.settings import AuthSettings
from servicekit.forwarding import ClientAddresses
from servicekit.logging import get_logger
from servicekit.web import ServiceRuntime, create_service_app

log = get_logger(__name__)


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    """The auth service."""
    settings = settings or AuthSettings()

    def start(runtime: ServiceRuntime) -> None:
        # Without the KEK, or with one that cannot open the stored keys, the service must not
        # start: failing here is one clear error, not a 500 on every login.
        try:
            kek = KeyEncryptionKeys.from_setting(settings.key_encryption_key)
            sessions = runtime.database.sessions
            with sessions() as session, session.begin():
                ensure_signing_key(session, kek)
        except KeyEncryptionError as exc:
            log.error("signing_keys_unusable", error=str(exc))
            raise
        issuer = TokenIssuer(
            sessions,
            kek,
            access_ttl=settings.access_token_ttl_seconds,
            reload_seconds=settings.key_reload_seconds,
        )
        deps = AuthDeps(
            settings,
            handlers.password_context(settings),
            issuer,
            handlers.throttle_policy(settings),
        )
        runtime.extras["auth"] = deps
        runtime.extras["client_addresses"] = ClientAddresses(
            settings.trusted_proxies, settings.forwarding_secret.get_secret_value()
        )
        with sessions() as session:
            handlers.ensure_admin(session, deps)

    def purge_login_throttle(runtime: ServiceRuntime, stop: threading.Event) -> None:
        """Delete throttle rows that hold nothing back, every login_throttle_purge_seconds."""
        while not stop.wait(settings.login_throttle_purge_seconds):
            try:
                with runtime.database.sessions() as session:
                    deleted = handlers.purge_login_throttle(session, settings)
            except DBAPIError as exc:  # the database is away: try again next period
                log.warning("login_throttle_purge_failed", error=type(exc).__name__)
                continue
            if deleted:
                log.info("login_throttle_purged", rows=deleted)

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
        workers=[purge_login_throttle],
        on_startup=start,
        jwks=local_jwks,
    )
