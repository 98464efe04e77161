"""auth_service app: ``create_app()`` wires the parts; ``python -m auth_service`` serves it."""

from __future__ import annotations

import functools
import threading
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import DBAPIError

from auth_service.adapters.key_encryption import KeyEncryptionKeys
from auth_service.adapters.passwords import argon2id
from auth_service.adapters.repository import SqlAuthUnitOfWork
from auth_service.api.errors import ERROR_STATUSES, too_many_attempts
from auth_service.api.routes import router
from auth_service.application.ports import KeyEncryptionError
from auth_service.application.service import AuthService, SessionRules
from auth_service.application.signing_keys import ensure_signing_key
from auth_service.application.tokens import TokenIssuer
from auth_service.domain.errors import Throttled
from auth_service.domain.throttle import LeakRate, ThrottlePolicy
from auth_service.settings import AuthSettings
from servicekit.forwarding import ClientAddresses
from servicekit.logging import get_logger
from servicekit.messaging.unit_of_work import transaction
from servicekit.runtime import ServiceRuntime
from servicekit.service_app import create_service_app

log = get_logger(__name__)


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    """The auth service."""
    settings = settings or AuthSettings()

    def start(runtime: ServiceRuntime) -> None:
        unit_of_work = functools.partial(transaction, runtime.database.sessions, SqlAuthUnitOfWork)
        # Without the KEK, or with one that cannot open the stored keys, the service must not
        # start: failing here is one clear error, not a 500 on every login.
        try:
            kek = KeyEncryptionKeys.from_setting(settings.key_encryption_key)
            with unit_of_work() as uow:
                ensure_signing_key(uow.signing_keys, kek)
        except KeyEncryptionError as exc:
            log.error("signing_keys_unusable", error=str(exc))
            raise
        auth = AuthService(
            unit_of_work,
            passwords=argon2id(
                memory_kib=settings.argon2_memory_kib,
                time_cost=settings.argon2_time_cost,
                parallelism=settings.argon2_parallelism,
            ),
            issuer=TokenIssuer(
                unit_of_work,
                kek,
                access_ttl=settings.access_token_ttl_seconds,
                reload_seconds=settings.key_reload_seconds,
            ),
            rules=SessionRules(
                refresh_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
                throttle=ThrottlePolicy(
                    free_failures=settings.login_max_failures_per_account,
                    lockout_base_seconds=settings.login_lockout_base_seconds,
                    lockout_max_seconds=settings.login_lockout_max_seconds,
                    window_seconds=settings.login_window_seconds,
                    max_failures_per_address=settings.login_max_failures_per_address,
                ),
                known_address_for=timedelta(days=settings.login_known_address_days),
                guests_per_address=LeakRate(
                    settings.guest_max_per_address, settings.guest_window_seconds
                ),
            ),
        )
        runtime.extras["auth"] = auth
        runtime.extras["client_addresses"] = ClientAddresses(
            settings.trusted_proxies, settings.forwarding_secret.get_secret_value()
        )
        auth.ensure_admin(settings.admin_email, settings.admin_password.get_secret_value())

    def purge_login_throttle(runtime: ServiceRuntime, stop: threading.Event) -> None:
        """Delete throttle rows that hold nothing back (the logins' and the guests'), every
        login_throttle_purge_seconds."""
        auth: AuthService = runtime.extras["auth"]
        while not stop.wait(settings.login_throttle_purge_seconds):
            try:
                deleted = auth.purge_login_throttle() + auth.purge_guest_throttle()
            except DBAPIError as exc:  # the database is away: try again next period
                log.warning("login_throttle_purge_failed", error=type(exc).__name__)
                continue
            if deleted:
                log.info("login_throttle_purged", rows=deleted)

    def local_jwks(runtime: ServiceRuntime, _client: Any) -> Any:
        # The auth service verifies tokens with its own keys, read from its own database.
        async def fetch() -> dict[str, Any]:
            auth: AuthService = runtime.extras["auth"]
            return await run_in_threadpool(auth.issuer.jwks)

        return fetch

    app = create_service_app(
        name="auth-service",
        title="auth_service",
        settings=settings,
        routers=[router],
        error_statuses=ERROR_STATUSES,
        workers=[purge_login_throttle],
        on_startup=start,
        jwks=local_jwks,
    )
    app.add_exception_handler(Throttled, too_many_attempts)
    return app
