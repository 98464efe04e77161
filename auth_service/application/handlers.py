"""Auth use cases, one function per command; each runs in one transaction, but for login, which
commits its throttle count before the password is checked."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from passlib.context import CryptContext
from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from auth_service.adapters import login_throttle as throttle_store
from auth_service.adapters.tables import accounts, refresh_tokens
from auth_service.application.tokens import TokenIssuer, hash_refresh_token, new_refresh_token
from auth_service.domain.errors import (
    BadCredentials,
    EmailTaken,
    InvalidRefreshToken,
    TooManyAttempts,
)
from auth_service.domain.model import ADMIN, CUSTOMER, normalise_email
from auth_service.domain.throttle import (
    ThrottlePolicy,
    admit_leak,
    admit_lockout,
    undo_leak,
    undo_lockout,
)
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
    throttle: ThrottlePolicy


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


def throttle_policy(settings: AuthSettings) -> ThrottlePolicy:
    """The throttle's numbers from settings."""
    return ThrottlePolicy(
        free_failures=settings.login_max_failures_per_account,
        lockout_base_seconds=settings.login_lockout_base_seconds,
        lockout_max_seconds=settings.login_lockout_max_seconds,
        window_seconds=settings.login_window_seconds,
        max_failures_per_address=settings.login_max_failures_per_address,
    )


@dataclass(frozen=True)
class _Admitted:
    """What login keeps between admitting an attempt and settling it."""

    known_address: bool
    account: Row[Any] | None


def _admit(session: Session, deps: AuthDeps, *, email: str, address: str) -> _Admitted:
    """Count the attempt as a failure, in its own committed transaction, before any password is
    checked; or raise TooManyAttempts with nothing written. The buckets' rows stay locked until
    the commit, so concurrent attempts are admitted one by one and at most the free failures
    reach the password check."""
    policy = deps.throttle
    with session.begin():
        address_bucket = throttle_store.lock_address_bucket(session, address)
        known_for = timedelta(days=deps.settings.login_known_address_days)
        known = throttle_store.lock_known_address(session, email, address, known_for=known_for)
        lockout = known if known is not None else throttle_store.lock_account(session, email)
        now = throttle_store.database_now(session)
        by_address, address_bucket = admit_leak(address_bucket, now, policy)
        by_account, lockout = admit_lockout(lockout, now, policy)
        refused = [a.retry_after_seconds for a in (by_address, by_account) if not a.allowed]
        if refused:
            log.warning(
                "login_throttled",
                by_address=not by_address.allowed,
                by_account=not by_account.allowed,
                known_address=known is not None,
            )
            raise TooManyAttempts(retry_after=max(refused))  # rolls back: nothing counted
        throttle_store.save_address_bucket(session, address, address_bucket)
        if known is not None:
            throttle_store.save_known_address(session, email, address, lockout)
        else:
            throttle_store.save_account(session, email, lockout)
        account = session.execute(select(accounts).where(accounts.c.email == email)).first()
    return _Admitted(known is not None, account)


def _settle_success(
    session: Session, deps: AuthDeps, *, email: str, address: str, admitted: _Admitted
) -> None:
    """Take back the failure counted for a successful attempt, and remember the address.

    The account's shared lockout only loses this attempt: a success proves nothing about other
    clients' failures. The address becomes known, so its own slate is clean from now on."""
    policy = deps.throttle
    address_bucket = throttle_store.lock_address_bucket(session, address)
    now = throttle_store.database_now(session)
    throttle_store.save_address_bucket(session, address, undo_leak(address_bucket, now, policy))
    if not admitted.known_address:
        lockout = throttle_store.lock_account(session, email)
        throttle_store.save_account(session, email, undo_lockout(lockout))
    throttle_store.remember_address(session, email, address, now)


def login(
    session: Session, deps: AuthDeps, *, email: str, password: str, address: str
) -> TokenPair:
    """Check credentials (throttled per account and per address) and issue a token pair."""
    email = normalise_email(email)
    admitted = _admit(session, deps, email=email, address=address)
    account = admitted.account
    # Verify outside any transaction (slow by design); unknown emails cost the same time.
    if account is None:
        deps.passwords.dummy_verify()
        ok = False
    else:
        ok = deps.passwords.verify(password, account.password_hash)
    if not ok:
        log.info("login_failed", known_address=admitted.known_address)
        raise BadCredentials()  # already counted by _admit
    assert account is not None  # only a known account's password can verify
    with session.begin():
        _settle_success(session, deps, email=email, address=address, admitted=admitted)
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


def purge_login_throttle(session: Session, settings: AuthSettings) -> int:
    """Delete throttle rows that hold nothing back any more; returns how many."""
    with session.begin():
        return throttle_store.purge(
            session,
            window=timedelta(seconds=settings.login_window_seconds),
            known_for=timedelta(days=settings.login_known_address_days),
        )


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
