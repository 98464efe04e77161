"""What clients ask of the auth service about accounts and sessions: one function per command,
``(command, uow)`` (guests.py and roles.py have the guests' and the roles' commands).

Each runs in one unit of work (transaction). A login takes two: ``admit_login`` counts the
attempt as a failure and commits that before any password is checked, so that concurrent
attempts cannot all slip past the throttle; after the password verified (slow by design,
outside any transaction), ``log_in`` takes the failure back and opens the session.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from auth_service.application.ports import AuthUnitOfWork
from auth_service.domain.errors import BadCredentials, InvalidRefreshToken, TooManyAttempts
from auth_service.domain.model import (
    Account,
    RefreshToken,
    hash_refresh_token,
    new_refresh_token,
)
from auth_service.domain.roles import CUSTOMER
from auth_service.domain.throttle import (
    ThrottlePolicy,
    admit_leak,
    admit_lockout,
    undo_leak,
    undo_lockout,
)
from servicekit.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class Register:
    """Open an account. The password arrives hashed: hashing is slow by design and must not
    hold a transaction open."""

    email: str
    full_name: str
    password_hash: str
    roles: tuple[str, ...] = (CUSTOMER,)


@dataclass(frozen=True)
class LogIn:
    """An attempt to log in to the account of a normalised email from a client address."""

    email: str
    address: str
    throttle: ThrottlePolicy
    known_for: timedelta  # an address logged in from this recently is the account's own
    refresh_ttl: timedelta


@dataclass(frozen=True)
class Admitted:
    """A login attempt counted as a failure until its password proves otherwise."""

    attempt: LogIn
    account: Account | None
    known_address: bool


@dataclass(frozen=True)
class Grant:
    """A session opened or renewed: whose it is, and its new refresh token (access tokens are
    signed from it before the work commits)."""

    user_id: str
    email: str | None  # None for a guest
    roles: list[str]
    refresh_token: str


@dataclass(frozen=True)
class Refresh:
    """Exchange a refresh token for a new one of the same session."""

    token: str
    refresh_ttl: timedelta


@dataclass(frozen=True)
class Reused:
    """A spent refresh token came back: its family is revoked, and the caller refused once the
    revocation committed."""

    family_id: str


@dataclass(frozen=True)
class LogOut:
    """End the session of a refresh token."""

    token: str


def register(command: Register, uow: AuthUnitOfWork) -> Account:
    """Store a new account; account.registered goes out with it. EmailTaken if it exists."""
    account = Account.register(
        user_id=str(uuid.uuid4()),
        email=command.email,
        full_name=command.full_name,
        password_hash=command.password_hash,
        roles=command.roles,
        registered_at=datetime.now(UTC),
    )
    uow.accounts.add(account)
    return account


def admit_login(command: LogIn, uow: AuthUnitOfWork) -> Admitted:
    """Count the attempt as a failure before any password is checked, or raise TooManyAttempts
    with nothing counted. The buckets stay locked until the work commits, so concurrent attempts
    are admitted one by one and at most the free failures reach the password check."""
    throttle, policy = uow.login_throttle, command.throttle
    address_bucket = throttle.lock_address_bucket(command.address)
    known = throttle.lock_known_address(command.email, command.address, known_for=command.known_for)
    lockout = known if known is not None else throttle.lock_account(command.email)
    now = throttle.now()
    by_address, address_bucket = admit_leak(address_bucket, now, policy.per_address)
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
    throttle.save_address_bucket(command.address, address_bucket)
    if known is not None:
        throttle.save_known_address(command.email, command.address, lockout)
    else:
        throttle.save_account(command.email, lockout)
    return Admitted(command, uow.accounts.by_email(command.email), known is not None)


def log_in(command: Admitted, uow: AuthUnitOfWork) -> Grant:
    """The admitted attempt's password verified: take back the failure counted for it, make the
    address known, and open a session.

    The account's shared lockout only loses this attempt: a success proves nothing about other
    clients' failures. The address becomes known, so its own slate is clean from now on."""
    attempt, account = command.attempt, command.account
    if account is None:  # only a known account's password can verify
        raise BadCredentials()
    throttle = uow.login_throttle
    address_bucket = throttle.lock_address_bucket(attempt.address)
    now = throttle.now()
    throttle.save_address_bucket(
        attempt.address, undo_leak(address_bucket, now, attempt.throttle.per_address)
    )
    if not command.known_address:
        lockout = throttle.lock_account(attempt.email)
        throttle.save_account(attempt.email, undo_lockout(lockout))
    throttle.remember_address(attempt.email, attempt.address, now)
    return open_session(uow, account, str(uuid.uuid4()), attempt.refresh_ttl)


def refresh(command: Refresh, uow: AuthUnitOfWork) -> Grant | Reused:
    """Rotate a refresh token: the next one of its family. A spent token revokes its family."""
    now = datetime.now(UTC)
    token = uow.refresh_tokens.get_for_update(hash_refresh_token(command.token))
    if token is None:
        raise InvalidRefreshToken("unknown refresh token")
    if token.spent:
        uow.refresh_tokens.revoke_family(token.family_id)
        return Reused(token.family_id)
    if token.expired(now):
        raise InvalidRefreshToken("refresh token expired")
    uow.refresh_tokens.mark_rotated(token.token_id, now)
    account = uow.accounts.get(token.user_id)
    if account is None:  # the account outlives its tokens (foreign key): never happens
        raise InvalidRefreshToken("unknown refresh token")
    # The roles are the account's now, not the old token's: a change shows from this refresh.
    return open_session(uow, account, token.family_id, command.refresh_ttl)


def log_out(command: LogOut, uow: AuthUnitOfWork) -> None:
    """Revoke the refresh token's family; an unknown token is ignored."""
    family_id = uow.refresh_tokens.family_of(hash_refresh_token(command.token))
    if family_id is not None:
        uow.refresh_tokens.revoke_family(family_id)


def open_session(uow: AuthUnitOfWork, account: Account, family_id: str, ttl: timedelta) -> Grant:
    """A new refresh token of the family for the account, and what its access token says."""
    token, token_hash = new_refresh_token()
    uow.refresh_tokens.add(
        RefreshToken(
            token_id=str(uuid.uuid4()),
            family_id=family_id,
            user_id=account.user_id,
            token_hash=token_hash,
            expires_at=datetime.now(UTC) + ttl,
        )
    )
    return Grant(account.user_id, account.email, list(account.roles), token)
