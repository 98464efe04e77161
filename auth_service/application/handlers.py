"""Auth use cases, one function per command; each runs in one transaction."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from passlib.context import CryptContext
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from auth_service.adapters.tables import accounts, login_failures, refresh_tokens
from auth_service.application.tokens import TokenIssuer, hash_refresh_token, new_refresh_token
from auth_service.domain.errors import (
    BadCredentials,
    EmailTaken,
    InvalidRefreshToken,
    TooManyAttempts,
)
from auth_service.domain.model import ADMIN, CUSTOMER, normalise_email
from auth_service.settings import AuthSettings
from contracts.events import CATALOG, AccountRegistered
from servicekit.logging import get_logger
from servicekit.messaging import add_event, lock_aggregate

log = get_logger(__name__)


def password_context(settings: AuthSettings) -> CryptContext:
    """argon2id through passlib, with the configured cost."""
    return CryptContext(
        schemes=["argon2"],
        argon2__type="ID",
        argon2__memory_cost=settings.argon2_memory_kib,
        argon2__time_cost=settings.argon2_time_cost,
        argon2__parallelism=settings.argon2_parallelism,
    )


@dataclass(frozen=True)
class TokenPair:
    """What login and refresh return."""

    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True)
class AuthDeps:
    """What the handlers need besides a session."""

    settings: AuthSettings
    passwords: CryptContext
    issuer: TokenIssuer


def register(
    session: Session,
    deps: AuthDeps,
    *,
    email: str,
    password: str,
    full_name: str,
    roles: tuple[str, ...] = (CUSTOMER,),
    correlation_id: str | None = None,
) -> str:
    """Create an account and its account.registered event together; returns the user id."""
    email = normalise_email(email)
    # Hash before the transaction: a slow hash must not hold a database connection's locks.
    password_hash = deps.passwords.hash(password)
    user_id = str(uuid.uuid4())
    with session.begin():
        lock_aggregate(session, "account", user_id)
        created = session.execute(
            pg_insert(accounts)
            .values(
                user_id=user_id,
                email=email,
                full_name=full_name,
                password_hash=password_hash,
                roles=list(roles),
            )
            .on_conflict_do_nothing(index_elements=["email"])
            .returning(accounts.c.created_at)
        ).first()
        if created is None:
            raise EmailTaken(email)
        add_event(
            session,
            aggregate_type="account",
            aggregate_id=user_id,
            event_type="account.registered",
            payload=AccountRegistered(
                user_id=user_id,
                email=email,
                full_name=full_name,
                roles=list(roles),
                registered_at=created.created_at,
            ),
            registry=CATALOG,
            correlation_id=correlation_id,
        )
    log.info("account_registered", user_id=user_id)
    return user_id


def ensure_admin(session: Session, deps: AuthDeps) -> None:
    """Create the admin account from ADMIN_EMAIL/ADMIN_PASSWORD unless it exists."""
    email = normalise_email(deps.settings.admin_email)
    with session.begin():
        exists = session.execute(select(accounts.c.user_id).where(accounts.c.email == email))
        if exists.first() is not None:
            return
    with contextlib.suppress(EmailTaken):  # another instance created it at the same moment
        register(
            session,
            deps,
            email=email,
            password=deps.settings.admin_password.get_secret_value(),
            full_name="Administrator",
            roles=(ADMIN, CUSTOMER),
        )


def login(
    session: Session, deps: AuthDeps, *, email: str, password: str, address: str
) -> TokenPair:
    """Check credentials (throttled per account and per address) and issue a token pair."""
    email = normalise_email(email)
    settings = deps.settings
    window_start = datetime.now(UTC) - timedelta(seconds=settings.login_window_seconds)
    with session.begin():
        failures_email, failures_address = session.execute(
            select(
                func.count().filter(login_failures.c.email == email),
                func.count().filter(login_failures.c.address == address),
            ).where(
                login_failures.c.failed_at > window_start,
                (login_failures.c.email == email) | (login_failures.c.address == address),
            )
        ).one()
        if (
            failures_email >= settings.login_max_failures_per_account
            or failures_address >= settings.login_max_failures_per_address
        ):
            log.warning("login_throttled", reason="too many failures")
            raise TooManyAttempts(retry_after=settings.login_window_seconds)
        account = session.execute(select(accounts).where(accounts.c.email == email)).first()
    # Verify outside the transaction (slow by design); unknown emails cost the same time.
    if account is None:
        deps.passwords.dummy_verify()
        ok = False
    else:
        ok = deps.passwords.verify(password, account.password_hash)
    if not ok:
        with session.begin():  # committed: the failure must count even though we raise
            session.execute(insert(login_failures).values(email=email, address=address))
            session.execute(delete(login_failures).where(login_failures.c.failed_at < window_start))
        log.info("login_failed")
        raise BadCredentials()
    with session.begin():
        session.execute(delete(login_failures).where(login_failures.c.email == email))
        assert account is not None
        pair = _issue_pair(
            session,
            deps,
            user_id=str(account.user_id),
            email=email,
            roles=list(account.roles),
            family_id=str(uuid.uuid4()),
        )
    log.info("login_succeeded", user_id=str(account.user_id))
    return pair


def refresh(session: Session, deps: AuthDeps, *, token: str) -> TokenPair:
    """Rotate a refresh token; reuse of a rotated one revokes its whole family."""
    now = datetime.now(UTC)
    reuse_detected = False
    with session.begin():
        row = session.execute(
            select(refresh_tokens)
            .where(refresh_tokens.c.token_hash == hash_refresh_token(token))
            .with_for_update()
        ).first()
        if row is None:
            raise InvalidRefreshToken("unknown refresh token")
        if row.revoked_at is not None or row.rotated_at is not None:
            _revoke_family(session, str(row.family_id))
            reuse_detected = True
        elif row.expires_at <= now:
            raise InvalidRefreshToken("refresh token expired")
        else:
            session.execute(
                update(refresh_tokens)
                .where(refresh_tokens.c.token_id == row.token_id)
                .values(rotated_at=now)
            )
            account = session.execute(
                select(accounts).where(accounts.c.user_id == row.user_id)
            ).one()
            pair = _issue_pair(
                session,
                deps,
                user_id=str(account.user_id),
                email=account.email,
                roles=list(account.roles),
                family_id=str(row.family_id),
            )
    if reuse_detected:
        # Committed above: the family stays revoked even though the caller gets an error.
        log.warning("refresh_token_reuse", family_id=str(row.family_id))
        raise InvalidRefreshToken("refresh token was already used; all sessions revoked")
    return pair


def logout(session: Session, *, token: str) -> None:
    """Revoke the refresh token's family; unknown tokens are ignored."""
    with session.begin():
        row = session.execute(
            select(refresh_tokens.c.family_id).where(
                refresh_tokens.c.token_hash == hash_refresh_token(token)
            )
        ).first()
        if row is not None:
            _revoke_family(session, str(row.family_id))


def _revoke_family(session: Session, family_id: str) -> None:
    session.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )


def _issue_pair(
    session: Session, deps: AuthDeps, *, user_id: str, email: str, roles: list[str], family_id: str
) -> TokenPair:
    token, token_hash = new_refresh_token()
    session.execute(
        insert(refresh_tokens).values(
            token_id=str(uuid.uuid4()),
            family_id=family_id,
            user_id=user_id,
            token_hash=token_hash,
            expires_at=datetime.now(UTC)
            + timedelta(seconds=deps.settings.refresh_token_ttl_seconds),
        )
    )
    access = deps.issuer.access_token(user_id=user_id, email=email, roles=roles)
    return TokenPair(access, token, deps.issuer.access_ttl)
