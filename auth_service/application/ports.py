"""What the auth use cases need from the outside, as protocols: persistence (the SQL
implementations are in adapters/repository.py, login_throttle.py and keys.py, the in-memory
fakes in adapters/memory.py, one contract test suite runs against both), password hashing and
the key-encryption key."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from auth_service.domain.model import Account, RefreshToken
from auth_service.domain.throttle import Leak, Lockout
from servicekit.messaging.unit_of_work import UnitOfWorkPort


class Accounts(Protocol):
    """The accounts, one aggregate each."""

    def add(self, account: Account) -> None:
        """Store a new account, taking its aggregate lock first; EmailTaken (nothing written)
        when the email is registered already, by a concurrent registration too."""
        ...

    def by_email(self, email: str) -> Account | None:
        """The account of a normalised email, read only (a guest has none)."""
        ...

    def get(self, user_id: str) -> Account | None:
        """One account, read only."""
        ...

    def get_for_update(self, user_id: str) -> Account | None:
        """One account to change, its aggregate lock taken first; the events it records are
        published with the work. Store the change with ``save``."""
        ...

    def save(self, account: Account) -> None:
        """Store the email, name, password hash and roles of an account loaded by
        ``get_for_update``; EmailTaken (nothing written) when another account has the email."""
        ...

    def lock_role_changes(self) -> None:
        """Serialise every change of roles until the end of the work, before any account is
        locked: whether the caller is still an admin and the change it makes are then one
        step, so two admins cannot take each other's admin role away at the same moment."""
        ...


class RefreshTokens(Protocol):
    """The refresh tokens, by the hash of the token."""

    def add(self, token: RefreshToken) -> None:
        """Store a new token."""
        ...

    def get_for_update(self, token_hash: str) -> RefreshToken | None:
        """The token, its row locked until the end of the work (one use at a time)."""
        ...

    def family_of(self, token_hash: str) -> str | None:
        """The family of a token, if it exists."""
        ...

    def mark_rotated(self, token_id: str, at: datetime) -> None:
        """The token was exchanged for a new one."""
        ...

    def revoke_family(self, family_id: str) -> None:
        """Revoke every token of the family not revoked yet."""
        ...

    def revoke_user(self, user_id: str) -> int:
        """Revoke every token of the account not revoked yet; returns how many."""
        ...


class AddressBuckets(Protocol):
    """Leaky buckets per client address (domain/throttle.py): one kind of count each (guests
    made). ``lock`` reads a bucket with its row locked until the end of the work, creating it
    when missing, so that concurrent requests from one address are counted one by one."""

    def now(self) -> datetime:
        """The one clock of every instance, read after the lock was granted."""
        ...

    def lock(self, address: str) -> Leak:
        """The address's bucket, locked."""
        ...

    def save(self, address: str, bucket: Leak) -> None:
        """Store the bucket locked by ``lock``."""
        ...

    def purge(self, *, window: timedelta) -> int:
        """Delete buckets idle for a whole window (drained: they hold nothing back); returns
        how many went."""
        ...


class LoginThrottle(Protocol):
    """The login throttle's buckets (domain/throttle.py has the rules). Every ``lock_*`` reads a
    bucket with its row locked until the end of the work, creating it when missing, so that
    concurrent attempts on one bucket are admitted one after the other; callers lock the address
    bucket first, then the account's, so that two attempts never wait for each other in a
    cycle."""

    def now(self) -> datetime:
        """The one clock of every instance, read after the locks were granted."""
        ...

    def lock_address_bucket(self, address: str) -> Leak:
        """The client address's bucket, locked."""
        ...

    def save_address_bucket(self, address: str, bucket: Leak) -> None:
        """Store the address bucket locked by ``lock_address_bucket``."""
        ...

    def lock_known_address(
        self, email: str, address: str, *, known_for: timedelta
    ) -> Lockout | None:
        """The lockout of an address the account logged in from within ``known_for``, locked;
        None when the account does not know the address."""
        ...

    def save_known_address(self, email: str, address: str, bucket: Lockout) -> None:
        """Store a known address's lockout."""
        ...

    def lock_account(self, email: str) -> Lockout:
        """The account's lockout for addresses it does not know, locked."""
        ...

    def save_account(self, email: str, bucket: Lockout) -> None:
        """Store the account lockout locked by ``lock_account``."""
        ...

    def remember_address(self, email: str, address: str, now: datetime) -> None:
        """The account logged in from this address: it is known from now on, with a clean
        slate."""
        ...

    def purge(self, *, window: timedelta, known_for: timedelta) -> int:
        """Delete buckets that hold nothing back any more; returns how many went."""
        ...


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A signing key as it is kept: the private key encrypted under the key-encryption key
    (or, left by versions before that, in clear until the next start encrypts it)."""

    kid: str
    public_jwk: dict[str, Any]
    private_key_encrypted: str | None
    private_pem: str | None = None


class SigningKeys(Protocol):
    """The RS256 signing keys."""

    def lock(self) -> None:
        """Hold the key-management lock until the end of the work: key creation, encryption of
        plaintext keys and key-encryption-key rotation never interleave."""
        ...

    def stored(self, *, for_update: bool = False) -> list[StoredKey]:
        """Every key, newest first (rows locked when ``for_update``)."""
        ...

    def published(self) -> list[StoredKey]:
        """The keys not retired, newest first."""
        ...

    def in_clear(self) -> list[StoredKey]:
        """The keys still kept in clear, rows locked."""
        ...

    def add(self, kid: str, private_key_encrypted: str, public_jwk: dict[str, Any]) -> None:
        """Store a new key; it is the newest."""
        ...

    def store_encrypted(self, kid: str, private_key_encrypted: str) -> None:
        """Replace a key's ciphertext, and drop its plaintext if it still had one."""
        ...

    def retire_all_but(self, kid: str) -> int:
        """Stop publishing every key but this one; returns how many were retired."""
        ...


class KeyEncryptionError(Exception):
    """The key-encryption key is missing or malformed, or cannot open a stored key: the service
    must not start. Messages never contain key material."""


class KeyCipher(Protocol):
    """The key-encryption key: encrypts with the newest key, decrypts with any."""

    def encrypt(self, plaintext: bytes) -> str:
        """A ciphertext under the newest key."""
        ...

    def decrypt(self, ciphertext: str) -> bytes:
        """The plaintext, or KeyEncryptionError."""
        ...

    def reencrypt(self, ciphertext: str) -> str:
        """The same plaintext under the newest key."""
        ...


class PasswordHasher(Protocol):
    """A slow password hash (argon2id in production)."""

    def hash(self, secret: str) -> str:
        """The hash to keep."""
        ...

    def verify(self, secret: str, hash: str) -> bool:  # noqa: A002 - passlib's own name
        """True when ``secret`` is the password ``hash`` was made from."""
        ...

    def dummy_verify(self) -> bool:
        """Spend the time of a verification, for an unknown email."""
        ...


class AuthUnitOfWork(UnitOfWorkPort, Protocol):
    """What every auth use case works with."""

    @property
    def accounts(self) -> Accounts:
        """The accounts."""
        ...

    @property
    def refresh_tokens(self) -> RefreshTokens:
        """The refresh tokens."""
        ...

    @property
    def login_throttle(self) -> LoginThrottle:
        """The login throttle's buckets."""
        ...

    @property
    def guest_throttle(self) -> AddressBuckets:
        """How many guests each client address made lately."""
        ...

    @property
    def signing_keys(self) -> SigningKeys:
        """The signing keys."""
        ...


# A unit of work that owns its transaction: commits when the block ends normally.
UnitOfWorkFactory = Callable[[], AbstractContextManager[AuthUnitOfWork]]
