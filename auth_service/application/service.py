"""The entry point of the auth use cases for the API and the start-up: each command in its own
unit of work, plus what happens between them or outside them (hashing and checking passwords,
signing access tokens)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import timedelta

from auth_service.application import commands, guests
from auth_service.application.commands import Grant, LogIn, LogOut, Refresh, Register
from auth_service.application.ports import PasswordHasher, UnitOfWorkFactory
from auth_service.application.roles import ChangeRoles, change_roles
from auth_service.application.tokens import TokenIssuer
from auth_service.domain.errors import (
    AlreadyRegistered,
    BadCredentials,
    EmailTaken,
    InvalidRefreshToken,
)
from auth_service.domain.model import Account, normalise_email
from auth_service.domain.passwords import check_password
from auth_service.domain.roles import ADMIN, CUSTOMER, GUEST
from auth_service.domain.throttle import LeakRate, ThrottlePolicy
from servicekit.logging import get_logger
from servicekit.tokens import Principal

log = get_logger(__name__)


@dataclass(frozen=True)
class TokenPair:
    """What login and refresh return."""

    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True)
class SessionRules:
    """How long sessions last and how logins are throttled, from settings."""

    refresh_ttl: timedelta
    throttle: ThrottlePolicy
    known_address_for: timedelta  # an address logged in from this recently is the owner's
    guests_per_address: LeakRate  # how many guests one client address may make


class AuthService:
    """Runs the auth commands."""

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        *,
        passwords: PasswordHasher,
        issuer: TokenIssuer,
        rules: SessionRules,
    ) -> None:
        self.unit_of_work = unit_of_work
        self.passwords = passwords
        self.issuer = issuer
        self.rules = rules

    def register(
        self, *, email: str, password: str, full_name: str, caller: Principal | None = None
    ) -> Account:
        """Open a customer account (WeakPassword, EmailTaken). With the verified token of a
        guest (``caller``), that guest becomes the customer, under its own user_id; with any
        other account's token, AlreadyRegistered: a token asks to register its own account."""
        check_password(password, email)
        if caller is None:
            return self._register(email, password, full_name, (CUSTOMER,))
        if GUEST not in caller.roles:
            raise AlreadyRegistered()
        command = guests.ConvertGuest(
            caller.user_id, normalise_email(email), full_name, self.passwords.hash(password)
        )
        with self.unit_of_work() as uow:
            account = guests.convert_guest(command, uow)
        log.info("guest_converted", user_id=account.user_id)
        return account

    def create_guest(self, *, address: str) -> tuple[str, TokenPair]:
        """A guest's user_id and first session (TooManyGuests when ``address`` made too
        many)."""
        command = guests.CreateGuest(address, self.rules.guests_per_address, self.rules.refresh_ttl)
        with self.unit_of_work() as uow:
            grant = guests.create_guest(command, uow)
            pair = self._signed(grant)
        log.info("guest_registered", user_id=grant.user_id)
        return grant.user_id, pair

    def change_roles(self, *, user_id: str, roles: list[str], changed_by: str) -> Account:
        """Set an account's roles as the admin ``changed_by`` (InvalidRoles, NotAdmin,
        AccountNotFound, GuestRoles, OwnAdminRole)."""
        with self.unit_of_work() as uow:
            account = change_roles(ChangeRoles(user_id, tuple(roles), changed_by), uow)
        log.info(
            "account_roles_set", user_id=user_id, changed_by=changed_by, roles=list(account.roles)
        )
        return account

    def ensure_admin(self, email: str, password: str) -> None:
        """Open the admin account from settings unless it exists."""
        email = normalise_email(email)
        with self.unit_of_work() as uow:
            if uow.accounts.by_email(email) is not None:
                return
        with contextlib.suppress(EmailTaken):  # another instance opened it at the same moment
            self._register(email, password, "Administrator", (ADMIN, CUSTOMER))

    def _register(
        self, email: str, password: str, full_name: str, roles: tuple[str, ...]
    ) -> Account:
        # Hash before the work: a slow hash must not hold a transaction's locks.
        command = Register(normalise_email(email), full_name, self.passwords.hash(password), roles)
        with self.unit_of_work() as uow:
            account = commands.register(command, uow)
        log.info("account_registered", user_id=account.user_id)
        return account

    def log_in(self, *, email: str, password: str, address: str) -> TokenPair:
        """Check credentials, throttled per account and per client address (TooManyAttempts,
        BadCredentials), and open a session."""
        attempt = LogIn(
            email=normalise_email(email),
            address=address,
            throttle=self.rules.throttle,
            known_for=self.rules.known_address_for,
            refresh_ttl=self.rules.refresh_ttl,
        )
        with self.unit_of_work() as uow:
            admitted = commands.admit_login(attempt, uow)
        # Outside any transaction (slow by design); an unknown email costs the same time.
        if admitted.account is None or admitted.account.password_hash is None:
            self.passwords.dummy_verify()
            verified = False
        else:
            verified = self.passwords.verify(password, admitted.account.password_hash)
        if not verified:
            log.info("login_failed", known_address=admitted.known_address)
            raise BadCredentials()  # already counted by admit_login
        with self.unit_of_work() as uow:
            grant = commands.log_in(admitted, uow)
            pair = self._signed(grant)
        log.info("login_succeeded", user_id=grant.user_id)
        return pair

    def refresh(self, token: str) -> TokenPair:
        """Rotate a refresh token; a reused one revokes its whole family (InvalidRefreshToken)."""
        with self.unit_of_work() as uow:
            renewed = commands.refresh(Refresh(token, self.rules.refresh_ttl), uow)
            if isinstance(renewed, Grant):
                return self._signed(renewed)
        # Committed: the family stays revoked although the caller gets an error.
        log.warning("refresh_token_reuse", family_id=renewed.family_id)
        raise InvalidRefreshToken("refresh token was already used; all sessions revoked")

    def log_out(self, token: str) -> None:
        """End the session of a refresh token (and every token of its family)."""
        with self.unit_of_work() as uow:
            commands.log_out(LogOut(token), uow)

    def purge_login_throttle(self) -> int:
        """Delete throttle buckets that hold nothing back any more; returns how many."""
        with self.unit_of_work() as uow:
            return uow.login_throttle.purge(
                window=timedelta(seconds=self.rules.throttle.window_seconds),
                known_for=self.rules.known_address_for,
            )

    def purge_guest_throttle(self) -> int:
        """Delete the guests' address buckets that drained; returns how many."""
        with self.unit_of_work() as uow:
            return uow.guest_throttle.purge(
                window=timedelta(seconds=self.rules.guests_per_address.window_seconds)
            )

    def _signed(self, grant: Grant) -> TokenPair:
        """The grant's token pair. Signed inside the work: if signing fails, nothing of the
        session is kept."""
        access = self.issuer.access_token(
            user_id=grant.user_id, email=grant.email, roles=grant.roles
        )
        return TokenPair(access, grant.refresh_token, self.issuer.access_ttl)
