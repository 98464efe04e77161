"""Where the login throttle's buckets live: the SQL side of ``LoginThrottle``
(application/ports.py). Every ``lock_*`` reads a bucket with its row locked until the
transaction ends (created first when missing: ``INSERT ... ON CONFLICT DO UPDATE ...
RETURNING`` locks a new row and an existing one alike), so concurrent attempts on the same
bucket are admitted one after the other. Rows are always locked in the same order, address
bucket first, then the account's, so two attempts never wait for each other in a cycle.

``SqlAddressBuckets`` is one table of leaky buckets per client address: the login throttle's
failures, and the guests made (``AddressBuckets``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Table, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from auth_service.adapters.tables import (
    login_account_lockouts,
    login_address_buckets,
    login_known_addresses,
)
from auth_service.domain.throttle import Leak, Lockout

_PURGES = (
    # Idle for a window and not locked: admitting the next attempt would start from zero anyway.
    """DELETE FROM login_account_lockouts
       WHERE (last_failure_at IS NULL OR last_failure_at < clock_timestamp() - :window)
         AND (locked_until IS NULL OR locked_until < clock_timestamp())""",
    # A full bucket drains completely in one window.
    "DELETE FROM login_address_buckets WHERE updated_at < clock_timestamp() - :window",
    """DELETE FROM login_known_addresses
       WHERE last_login_at < clock_timestamp() - :known_for
         AND (locked_until IS NULL OR locked_until < clock_timestamp())""",
)


def _now(session: Session) -> datetime:
    now: datetime = session.execute(select(func.clock_timestamp())).scalar_one()
    return now


class SqlAddressBuckets:
    """Leaky buckets per client address in one table, in the unit of work's session."""

    def __init__(self, session: Session, table: Table) -> None:
        self._session = session
        self._table = table

    def now(self) -> datetime:
        """See AddressBuckets.now: the database's clock, one for every instance."""
        return _now(self._session)

    def lock(self, address: str) -> Leak:
        """See AddressBuckets.lock."""
        table = self._table
        statement = pg_insert(table).values(address=address, level=0.0)
        row = self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[table.c.address], set_={"level": table.c.level}
            ).returning(table.c.level, table.c.updated_at)
        ).one()
        return Leak(row.level, row.updated_at)

    def save(self, address: str, bucket: Leak) -> None:
        """See AddressBuckets.save."""
        table = self._table
        self._session.execute(
            table.update()
            .where(table.c.address == address)
            .values(level=bucket.level, updated_at=bucket.updated_at)
        )

    def purge(self, *, window: timedelta) -> int:
        """See AddressBuckets.purge: a full bucket drains completely in one window."""
        table = self._table
        result = self._session.execute(
            table.delete().where(table.c.updated_at < func.clock_timestamp() - window)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


class SqlLoginThrottle:
    """The throttle's buckets in PostgreSQL, in the unit of work's session."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._addresses = SqlAddressBuckets(session, login_address_buckets)

    def now(self) -> datetime:
        """See LoginThrottle.now: the database's clock, one for every instance."""
        return _now(self._session)

    def lock_address_bucket(self, address: str) -> Leak:
        """See LoginThrottle.lock_address_bucket."""
        return self._addresses.lock(address)

    def save_address_bucket(self, address: str, bucket: Leak) -> None:
        """See LoginThrottle.save_address_bucket."""
        self._addresses.save(address, bucket)

    def lock_known_address(
        self, email: str, address: str, *, known_for: timedelta
    ) -> Lockout | None:
        """See LoginThrottle.lock_known_address."""
        table = login_known_addresses
        row = self._session.execute(
            select(table.c.failures, table.c.locked_until, table.c.last_failure_at)
            .where(
                table.c.email == email,
                table.c.address == address,
                table.c.last_login_at > func.clock_timestamp() - known_for,
            )
            .with_for_update()
        ).first()
        return None if row is None else Lockout(row.failures, row.locked_until, row.last_failure_at)

    def save_known_address(self, email: str, address: str, bucket: Lockout) -> None:
        """See LoginThrottle.save_known_address."""
        table = login_known_addresses
        self._session.execute(
            table.update()
            .where(table.c.email == email, table.c.address == address)
            .values(
                failures=bucket.failures,
                locked_until=bucket.locked_until,
                last_failure_at=bucket.last_failure_at,
            )
        )

    def remember_address(self, email: str, address: str, now: datetime) -> None:
        """See LoginThrottle.remember_address."""
        table = login_known_addresses
        values = {
            "last_login_at": now,
            "failures": 0,
            "locked_until": None,
            "last_failure_at": None,
        }
        self._session.execute(
            pg_insert(table)
            .values(email=email, address=address, **values)
            .on_conflict_do_update(index_elements=[table.c.email, table.c.address], set_=values)
        )

    def lock_account(self, email: str) -> Lockout:
        """See LoginThrottle.lock_account."""
        table = login_account_lockouts
        row = self._session.execute(
            pg_insert(table)
            .values(email=email)
            .on_conflict_do_update(
                index_elements=[table.c.email], set_={"failures": table.c.failures}
            )
            .returning(table.c.failures, table.c.locked_until, table.c.last_failure_at)
        ).one()
        return Lockout(row.failures, row.locked_until, row.last_failure_at)

    def save_account(self, email: str, bucket: Lockout) -> None:
        """See LoginThrottle.save_account."""
        table = login_account_lockouts
        self._session.execute(
            table.update()
            .where(table.c.email == email)
            .values(
                failures=bucket.failures,
                locked_until=bucket.locked_until,
                last_failure_at=bucket.last_failure_at,
            )
        )

    def purge(self, *, window: timedelta, known_for: timedelta) -> int:
        """See LoginThrottle.purge: idle lockouts past the window, drained address buckets,
        addresses not logged in from for ``known_for``."""
        deleted = 0
        for statement in _PURGES:
            result = self._session.execute(
                text(statement), {"window": window, "known_for": known_for}
            )
            deleted += int(result.rowcount)  # type: ignore[attr-defined]
        return deleted
