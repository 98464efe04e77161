"""The in-memory fakes of the login throttle's buckets and of the guests' address buckets (the
SQL side is login_throttle.py), for the unit of work of adapters/memory.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from auth_service.domain.throttle import Leak, Lockout

if TYPE_CHECKING:
    from auth_service.adapters.memory import Table


@dataclass(frozen=True, slots=True)
class KnownAddress:
    """An address an account logged in from, and its own lockout."""

    last_login_at: datetime
    lockout: Lockout


class InMemoryAddressBuckets:
    """Leaky buckets per client address in one of the unit of work's tables."""

    def __init__(self, clock: Callable[[], datetime], table: Table[str, Leak]) -> None:
        self._clock = clock
        self._table = table

    def now(self) -> datetime:
        """See AddressBuckets.now."""
        return self._clock()

    def lock(self, address: str) -> Leak:
        """See AddressBuckets.lock."""
        bucket = self._table.get(address)
        if bucket is None:
            bucket = Leak(0.0, self._clock())
            self._table.put(address, bucket)
        return bucket

    def save(self, address: str, bucket: Leak) -> None:
        """See AddressBuckets.save."""
        if self._table.get(address) is not None:
            self._table.put(address, bucket)

    def purge(self, *, window: timedelta) -> int:
        """See AddressBuckets.purge."""
        now = self._clock()
        gone = [
            address
            for address, bucket in self._table.rows()
            if bucket.updated_at is not None and bucket.updated_at < now - window
        ]
        for address in gone:
            self._table.delete(address)
        return len(gone)


class InMemoryLoginThrottle:
    """The throttle's buckets in the unit of work's tables, on the store's clock."""

    def __init__(
        self,
        clock: Callable[[], datetime],
        *,
        accounts: Table[str, Lockout],
        known: Table[tuple[str, str], KnownAddress],
        addresses: Table[str, Leak],
    ) -> None:
        self._clock = clock
        self._accounts = accounts
        self._known = known
        self._addresses = addresses
        self._address_buckets = InMemoryAddressBuckets(clock, addresses)

    def now(self) -> datetime:
        """See LoginThrottle.now."""
        return self._clock()

    def lock_address_bucket(self, address: str) -> Leak:
        """See LoginThrottle.lock_address_bucket."""
        return self._address_buckets.lock(address)

    def save_address_bucket(self, address: str, bucket: Leak) -> None:
        """See LoginThrottle.save_address_bucket."""
        self._address_buckets.save(address, bucket)

    def lock_known_address(
        self, email: str, address: str, *, known_for: timedelta
    ) -> Lockout | None:
        """See LoginThrottle.lock_known_address."""
        known = self._known.get((email, address))
        if known is None or known.last_login_at <= self._clock() - known_for:
            return None
        return known.lockout

    def save_known_address(self, email: str, address: str, bucket: Lockout) -> None:
        """See LoginThrottle.save_known_address."""
        known = self._known.get((email, address))
        if known is not None:
            self._known.put((email, address), KnownAddress(known.last_login_at, bucket))

    def remember_address(self, email: str, address: str, now: datetime) -> None:
        """See LoginThrottle.remember_address."""
        self._known.put((email, address), KnownAddress(now, Lockout()))

    def lock_account(self, email: str) -> Lockout:
        """See LoginThrottle.lock_account."""
        lockout = self._accounts.get(email)
        if lockout is None:
            lockout = Lockout()
            self._accounts.put(email, lockout)
        return lockout

    def save_account(self, email: str, bucket: Lockout) -> None:
        """See LoginThrottle.save_account."""
        if self._accounts.get(email) is not None:
            self._accounts.put(email, bucket)

    def purge(self, *, window: timedelta, known_for: timedelta) -> int:
        """See LoginThrottle.purge."""
        now = self._clock()

        def unlocked(lockout: Lockout) -> bool:
            return lockout.locked_until is None or lockout.locked_until < now

        gone: list[tuple[Table[Any, Any], Any]] = [
            (self._accounts, email)
            for email, lockout in self._accounts.rows()
            if (lockout.last_failure_at is None or lockout.last_failure_at < now - window)
            and unlocked(lockout)
        ]
        gone += [
            (self._addresses, address)
            for address, bucket in self._addresses.rows()
            if bucket.updated_at is not None and bucket.updated_at < now - window
        ]
        gone += [
            (self._known, key)
            for key, known in self._known.rows()
            if known.last_login_at < now - known_for and unlocked(known.lockout)
        ]
        for table, key in gone:
            table.delete(key)
        return len(gone)
