"""Accounts and their sessions. Pure Python: no framework, database or broker.

An account records what happens to it (event objects of ``contracts.events``): it is opened
(``account.registered``), made for an anonymous customer (``account.guest_registered``), a guest
registers (``account.guest_converted``, the same user_id), an admin changes its roles
(``account.roles_changed``); the unit of work publishes each with the change. A session is a
family of refresh tokens: each use rotates the token to a new one of the same family, so a
token presented twice means a copy of it exists somewhere, and the whole family is revoked.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from auth_service.domain.errors import AlreadyRegistered, GuestRoles, OwnAdminRole
from auth_service.domain.roles import ADMIN, CUSTOMER, GUEST, grantable_roles
from contracts.events import AccountRegistered, AccountRolesChanged, GuestConverted, GuestRegistered
from servicekit.messaging.envelope import Event


def normalise_email(email: str) -> str:
    """Emails are compared case-insensitively."""
    return email.strip().lower()


@dataclass
class Account:
    """An identity, and the events its changes recorded. A guest has neither email, name nor
    password (all None) and the one role ``guest``; every other account has all three."""

    user_id: str
    email: str | None
    full_name: str | None
    password_hash: str | None
    roles: tuple[str, ...]
    registered_at: datetime
    events: list[Event] = field(default_factory=list)

    @property
    def is_guest(self) -> bool:
        """An anonymous customer, until it registers."""
        return GUEST in self.roles

    @classmethod
    def register(
        cls,
        *,
        user_id: str,
        email: str,
        full_name: str,
        password_hash: str,
        roles: tuple[str, ...],
        registered_at: datetime,
    ) -> Account:
        """A new account, announced to the services that keep something per user."""
        account = cls(
            user_id, normalise_email(email), full_name, password_hash, roles, registered_at
        )
        account.events.append(
            AccountRegistered(
                user_id=user_id,
                email=normalise_email(email),
                full_name=full_name,
                roles=list(roles),
                registered_at=registered_at,
            )
        )
        return account

    @classmethod
    def register_guest(cls, *, user_id: str, registered_at: datetime) -> Account:
        """A new anonymous customer: no email, no name, no password."""
        account = cls(user_id, None, None, None, (GUEST,), registered_at)
        account.events.append(
            GuestRegistered(user_id=user_id, roles=[GUEST], registered_at=registered_at)
        )
        return account

    def convert(
        self, *, email: str, full_name: str, password_hash: str, converted_at: datetime
    ) -> None:
        """The guest registers: the same account gets an email, a name and a password and
        becomes a customer (AlreadyRegistered if it is no guest)."""
        if not self.is_guest:
            raise AlreadyRegistered()
        self.email = normalise_email(email)
        self.full_name = full_name
        self.password_hash = password_hash
        self.roles = (CUSTOMER,)
        self.events.append(
            GuestConverted(
                user_id=self.user_id,
                email=self.email,
                full_name=full_name,
                roles=list(self.roles),
                converted_at=converted_at,
            )
        )

    def change_roles(self, roles: tuple[str, ...], *, changed_by: str) -> bool:
        """An admin sets the account's roles (only grantable ones: InvalidRoles); returns
        whether they changed (the same roles again record nothing). A guest's roles are not
        granted (GuestRoles), and nobody takes their own admin role away (OwnAdminRole): the
        admin who would is still one afterwards, so the platform always keeps an admin."""
        roles = grantable_roles(roles)
        if self.is_guest:
            raise GuestRoles()
        if changed_by == self.user_id and ADMIN in self.roles and ADMIN not in roles:
            raise OwnAdminRole()
        if roles == tuple(sorted(self.roles)):
            return False
        self.roles = roles
        self.events.append(
            AccountRolesChanged(user_id=self.user_id, roles=list(roles), changed_by=changed_by)
        )
        return True


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """One refresh token as it is kept: its hash, never the token itself."""

    token_id: str
    family_id: str
    user_id: str
    token_hash: str
    expires_at: datetime
    rotated_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def spent(self) -> bool:
        """Rotated or revoked: presenting it again is a reuse."""
        return self.rotated_at is not None or self.revoked_at is not None

    def expired(self, now: datetime) -> bool:
        """True from its expiry on."""
        return self.expires_at <= now


def new_refresh_token() -> tuple[str, str]:
    """An opaque refresh token and the hash kept instead of it."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    """sha256: the token has 256 bits of entropy, so a fast hash is enough."""
    return hashlib.sha256(token.encode()).hexdigest()
