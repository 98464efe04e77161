"""In-memory fakes of the auth repositories and unit of work: the rules' unit tests run on them
in milliseconds, and the repository contract tests hold them to the SQL implementations'
behaviour (tests/auth_service/integration/test_repository_contract.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from auth_service.adapters.memory_throttle import (
    InMemoryAddressBuckets,
    InMemoryLoginThrottle,
    KnownAddress,
)
from auth_service.application.ports import StoredKey
from auth_service.domain.errors import EmailTaken
from auth_service.domain.model import Account, RefreshToken
from auth_service.domain.throttle import Leak, Lockout
from servicekit.messaging.unit_of_work import Cause, InMemoryUnitOfWork

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class KeptKey:
    """A signing key with what orders and retires it."""

    key: StoredKey
    created: int
    retired: bool = False


@dataclass
class AuthStore:
    """What the fakes keep between units of work, as a database would. ``clock`` is the
    database's clock (tests move it)."""

    accounts: dict[str, Account] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)  # by token hash
    account_lockouts: dict[str, Lockout] = field(default_factory=dict)
    known_addresses: dict[tuple[str, str], KnownAddress] = field(default_factory=dict)
    address_buckets: dict[str, Leak] = field(default_factory=dict)
    guest_buckets: dict[str, Leak] = field(default_factory=dict)
    signing_keys: dict[str, KeptKey] = field(default_factory=dict)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


class Table(Generic[K, V]):
    """One table as a unit of work sees it: the committed rows, with the work's own writes on
    top until it commits (then they reach the store) or rolls back (then they are forgotten)."""

    def __init__(self, committed: dict[K, V]) -> None:
        self._committed = committed
        self._written: dict[K, tuple[V] | None] = {}  # None: deleted

    def get(self, key: K) -> V | None:
        """The row, if it exists."""
        if key in self._written:
            written = self._written[key]
            return None if written is None else written[0]
        return self._committed.get(key)

    def put(self, key: K, value: V) -> None:
        """Insert or replace a row."""
        self._written[key] = (value,)

    def delete(self, key: K) -> None:
        """Delete a row."""
        self._written[key] = None

    def rows(self) -> list[tuple[K, V]]:
        """Every row."""
        keys = list(self._committed) + [k for k in self._written if k not in self._committed]
        return [(key, value) for key in keys if (value := self.get(key)) is not None]

    def commit(self) -> None:
        """The writes reach the store."""
        for key, written in self._written.items():
            if written is None:
                self._committed.pop(key, None)
            else:
                self._committed[key] = written[0]
        self._written.clear()

    def rollback(self) -> None:
        """The writes are forgotten."""
        self._written.clear()


class InMemoryAccounts:
    """Accounts in a dict; reads hand out copies, as rows would."""

    def __init__(self, uow: InMemoryAuthUnitOfWork) -> None:
        self._uow = uow
        self._table = Table(uow.store.accounts)
        uow.tables.append(self._table)

    def add(self, account: Account) -> None:
        """See Accounts.add."""
        self._uow.lock("account", account.user_id)
        self._refuse_taken_email(account)
        self._table.put(account.user_id, dataclasses.replace(account, events=[]))
        self._uow.track(account)

    def by_email(self, email: str) -> Account | None:
        """See Accounts.by_email."""
        found = [account for _, account in self._table.rows() if account.email == email]
        return dataclasses.replace(found[0], events=[]) if found else None

    def get(self, user_id: str) -> Account | None:
        """See Accounts.get."""
        account = self._table.get(user_id)
        return None if account is None else dataclasses.replace(account, events=[])

    def get_for_update(self, user_id: str) -> Account | None:
        """See Accounts.get_for_update."""
        self._uow.lock("account", user_id)
        account = self.get(user_id)
        if account is not None:
            self._uow.track(account)
        return account

    def save(self, account: Account) -> None:
        """See Accounts.save."""
        self._refuse_taken_email(account)
        if self._table.get(account.user_id) is not None:
            self._table.put(account.user_id, dataclasses.replace(account, events=[]))

    def lock_role_changes(self) -> None:
        """See Accounts.lock_role_changes."""
        self._uow.lock("account_roles", "all")

    def _refuse_taken_email(self, account: Account) -> None:
        if account.email is None:
            return  # a guest: no email to share
        holder = self.by_email(account.email)
        if holder is not None and holder.user_id != account.user_id:
            raise EmailTaken()


class InMemoryRefreshTokens:
    """Refresh tokens in a dict by token hash."""

    def __init__(self, uow: InMemoryAuthUnitOfWork) -> None:
        self._clock = uow.store.clock
        self._table = Table(uow.store.refresh_tokens)
        uow.tables.append(self._table)

    def add(self, token: RefreshToken) -> None:
        """See RefreshTokens.add."""
        self._table.put(token.token_hash, token)

    def get_for_update(self, token_hash: str) -> RefreshToken | None:
        """See RefreshTokens.get_for_update."""
        return self._table.get(token_hash)

    def family_of(self, token_hash: str) -> str | None:
        """See RefreshTokens.family_of."""
        token = self._table.get(token_hash)
        return None if token is None else token.family_id

    def mark_rotated(self, token_id: str, at: datetime) -> None:
        """See RefreshTokens.mark_rotated."""
        for token_hash, token in self._table.rows():
            if token.token_id == token_id:
                self._table.put(token_hash, dataclasses.replace(token, rotated_at=at))

    def revoke_family(self, family_id: str) -> None:
        """See RefreshTokens.revoke_family."""
        self._revoke(lambda token: token.family_id == family_id)

    def revoke_user(self, user_id: str) -> int:
        """See RefreshTokens.revoke_user."""
        return self._revoke(lambda token: token.user_id == user_id)

    def _revoke(self, which: Callable[[RefreshToken], bool]) -> int:
        now = self._clock()
        revoked = [
            (token_hash, token)
            for token_hash, token in self._table.rows()
            if which(token) and token.revoked_at is None
        ]
        for token_hash, token in revoked:
            self._table.put(token_hash, dataclasses.replace(token, revoked_at=now))
        return len(revoked)


class InMemorySigningKeys:
    """Signing keys in a dict, newest by order of addition."""

    def __init__(self, uow: InMemoryAuthUnitOfWork) -> None:
        self._table = Table(uow.store.signing_keys)
        uow.tables.append(self._table)

    def lock(self) -> None:
        """See SigningKeys.lock (one unit of work at a time here: nothing to wait for)."""

    def _newest_first(self) -> list[KeptKey]:
        return sorted((kept for _, kept in self._table.rows()), key=lambda k: -k.created)

    def stored(self, *, for_update: bool = False) -> list[StoredKey]:
        """See SigningKeys.stored."""
        return [kept.key for kept in self._newest_first()]

    def published(self) -> list[StoredKey]:
        """See SigningKeys.published."""
        return [kept.key for kept in self._newest_first() if not kept.retired]

    def in_clear(self) -> list[StoredKey]:
        """See SigningKeys.in_clear."""
        return [key for key in self.stored() if key.private_key_encrypted is None]

    def add(self, kid: str, private_key_encrypted: str, public_jwk: dict[str, Any]) -> None:
        """See SigningKeys.add."""
        created = max((kept.created for _, kept in self._table.rows()), default=0) + 1
        self._table.put(kid, KeptKey(StoredKey(kid, public_jwk, private_key_encrypted), created))

    def store_encrypted(self, kid: str, private_key_encrypted: str) -> None:
        """See SigningKeys.store_encrypted."""
        kept = self._table.get(kid)
        if kept is not None:
            key = dataclasses.replace(
                kept.key, private_key_encrypted=private_key_encrypted, private_pem=None
            )
            self._table.put(kid, dataclasses.replace(kept, key=key))

    def retire_all_but(self, kid: str) -> int:
        """See SigningKeys.retire_all_but."""
        retiring = [kept for k, kept in self._table.rows() if k != kid and not kept.retired]
        for kept in retiring:
            self._table.put(kept.key.kid, dataclasses.replace(kept, retired=True))
        return len(retiring)


class InMemoryAuthUnitOfWork(InMemoryUnitOfWork):
    """The auth unit of work on an AuthStore: changes reach the store only on commit."""

    def __init__(self, store: AuthStore | None = None, cause: Cause | None = None) -> None:
        super().__init__(cause)
        self.store = store or AuthStore()
        self.tables: list[Table[Any, Any]] = []
        self.accounts = InMemoryAccounts(self)
        self.refresh_tokens = InMemoryRefreshTokens(self)
        self.login_throttle = InMemoryLoginThrottle(
            self.store.clock,
            accounts=self._table(self.store.account_lockouts),
            known=self._table(self.store.known_addresses),
            addresses=self._table(self.store.address_buckets),
        )
        self.guest_throttle = InMemoryAddressBuckets(
            self.store.clock, self._table(self.store.guest_buckets)
        )
        self.signing_keys = InMemorySigningKeys(self)

    def _table(self, rows: dict[K, V]) -> Table[K, V]:
        table = Table(rows)
        self.tables.append(table)
        return table

    def _commit(self) -> None:
        super()._commit()
        for table in self.tables:
            table.commit()

    def rollback(self) -> None:
        """Forget what was not committed."""
        super().rollback()
        for table in self.tables:
            table.rollback()
