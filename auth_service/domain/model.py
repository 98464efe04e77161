"""Accounts and their sessions. Pure Python: no framework, database or broker.

An account records ``account.registered`` (an event object of ``contracts.events``) when it is
opened; the unit of work publishes it with the new row. A session is a family of refresh
tokens: each use rotates the token to a new one of the same family, so a token presented twice
means a copy of it exists somewhere, and the whole family is revoked.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from contracts.events import AccountRegistered
from servicekit.messaging.envelope import Event

CUSTOMER = "customer"
ADMIN = "admin"


def normalise_email(email: str) -> str:
    """Emails are compared case-insensitively."""
    return email.strip().lower()


@dataclass
class Account:
    """A registered identity, and the events its changes recorded."""

    user_id: str
    email: str
    full_name: str
    password_hash: str
    roles: tuple[str, ...]
    registered_at: datetime
    events: list[Event] = field(default_factory=list)

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
                email=account.email,
                full_name=full_name,
                roles=list(roles),
                registered_at=registered_at,
            )
        )
        return account


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
