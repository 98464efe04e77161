"""The SQL side of the auth use cases: the account and refresh-token repositories behind
application/ports.py, and the unit of work that holds them with the login throttle's buckets
(login_throttle.py) and the signing keys (keys.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg2 import errors as pg_errors
from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from auth_service.adapters.keys import SqlSigningKeys
from auth_service.adapters.login_throttle import SqlAddressBuckets, SqlLoginThrottle
from auth_service.adapters.tables import guest_address_buckets
from auth_service.domain.errors import EmailTaken
from auth_service.domain.model import Account, RefreshToken
from servicekit.db import sql
from servicekit.messaging.unit_of_work import Cause, SqlUnitOfWork

_INSERT_ACCOUNT = """
INSERT INTO accounts (user_id, email, full_name, password_hash, roles, created_at)
VALUES (%(user_id)s::uuid, %(email)s, %(full_name)s, %(password_hash)s, %(roles)s::text[],
        %(created_at)s)
ON CONFLICT (email) DO NOTHING
RETURNING user_id
"""

_ACCOUNT = """
SELECT user_id::text, email, full_name, password_hash, roles, created_at FROM accounts
"""
_ACCOUNT_BY_EMAIL = _ACCOUNT + "WHERE email = %(email)s"
_ACCOUNT_BY_ID = _ACCOUNT + "WHERE user_id = %(user_id)s::uuid"

_UPDATE_ACCOUNT = """
UPDATE accounts
SET email = %(email)s, full_name = %(full_name)s, password_hash = %(password_hash)s,
    roles = %(roles)s::text[]
WHERE user_id = %(user_id)s::uuid
"""
_EMAIL_UNIQUE = "accounts_email_key"
# Serialises every change of roles (Accounts.lock_role_changes): an advisory lock, which
# assigns no transaction id, taken before the account's own lock.
_ROLE_CHANGES = ("account_roles", "all")

_INSERT_REFRESH = """
INSERT INTO refresh_tokens (token_id, family_id, user_id, token_hash, expires_at)
VALUES (%(token_id)s::uuid, %(family_id)s::uuid, %(user_id)s::uuid, %(token_hash)s,
        %(expires_at)s)
"""

_REFRESH_FOR_UPDATE = """
SELECT token_id::text, family_id::text, user_id::text, token_hash, expires_at, rotated_at,
       revoked_at
FROM refresh_tokens WHERE token_hash = %(token_hash)s
FOR UPDATE
"""

_FAMILY_OF = "SELECT family_id::text FROM refresh_tokens WHERE token_hash = %(token_hash)s"

_MARK_ROTATED = """
UPDATE refresh_tokens SET rotated_at = %(at)s WHERE token_id = %(token_id)s::uuid
"""

_REVOKE_FAMILY = """
UPDATE refresh_tokens SET revoked_at = now()
WHERE family_id = %(family_id)s::uuid AND revoked_at IS NULL
"""

_REVOKE_USER = """
UPDATE refresh_tokens SET revoked_at = now()
WHERE user_id = %(user_id)s::uuid AND revoked_at IS NULL
"""


def _account(row: Row[Any]) -> Account:
    user_id, email, full_name, password_hash, roles, created_at = tuple(row)
    return Account(user_id, email, full_name, password_hash, tuple(roles), created_at)


class SqlAccounts:
    """Accounts in PostgreSQL; a new account is tracked by the unit of work, which publishes
    the events it recorded."""

    def __init__(self, uow: SqlAuthUnitOfWork) -> None:
        self._uow = uow
        self._session = uow.session

    def add(self, account: Account) -> None:
        """See Accounts.add: one statement, which a concurrent registration cannot slip past
        (the unique email)."""
        self._uow.lock("account", account.user_id)
        created = sql(
            self._session,
            _INSERT_ACCOUNT,
            {
                "user_id": account.user_id,
                "email": account.email,
                "full_name": account.full_name,
                "password_hash": account.password_hash,
                "roles": list(account.roles),
                "created_at": account.registered_at,
            },
        ).first()
        if created is None:
            raise EmailTaken()
        self._uow.track(account)

    def by_email(self, email: str) -> Account | None:
        """See Accounts.by_email."""
        row = sql(self._session, _ACCOUNT_BY_EMAIL, {"email": email}).first()
        return None if row is None else _account(row)

    def get(self, user_id: str) -> Account | None:
        """See Accounts.get."""
        row = sql(self._session, _ACCOUNT_BY_ID, {"user_id": user_id}).first()
        return None if row is None else _account(row)

    def get_for_update(self, user_id: str) -> Account | None:
        """See Accounts.get_for_update: every writer of an account takes its advisory lock, so
        no row lock is needed."""
        self._uow.lock("account", user_id)
        account = self.get(user_id)
        if account is not None:
            self._uow.track(account)
        return account

    def save(self, account: Account) -> None:
        """See Accounts.save. A concurrent registration may take the email between any check
        and this statement, so the unique index decides, inside a savepoint that keeps the
        rest of the work usable."""
        params = {
            "user_id": account.user_id,
            "email": account.email,
            "full_name": account.full_name,
            "password_hash": account.password_hash,
            "roles": list(account.roles),
        }
        try:
            with self._session.begin_nested():
                sql(self._session, _UPDATE_ACCOUNT, params)
        except IntegrityError as exc:
            if isinstance(exc.orig, pg_errors.UniqueViolation) and (
                exc.orig.diag.constraint_name == _EMAIL_UNIQUE
            ):
                raise EmailTaken() from None
            raise

    def lock_role_changes(self) -> None:
        """See Accounts.lock_role_changes."""
        self._uow.lock(*_ROLE_CHANGES)


class SqlRefreshTokens:
    """Refresh tokens in PostgreSQL, found by the hash of the token (unique)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, token: RefreshToken) -> None:
        """See RefreshTokens.add."""
        sql(
            self._session,
            _INSERT_REFRESH,
            {
                "token_id": token.token_id,
                "family_id": token.family_id,
                "user_id": token.user_id,
                "token_hash": token.token_hash,
                "expires_at": token.expires_at,
            },
        )

    def get_for_update(self, token_hash: str) -> RefreshToken | None:
        """See RefreshTokens.get_for_update."""
        row = sql(self._session, _REFRESH_FOR_UPDATE, {"token_hash": token_hash}).first()
        return None if row is None else RefreshToken(*tuple(row))

    def family_of(self, token_hash: str) -> str | None:
        """See RefreshTokens.family_of."""
        row = sql(self._session, _FAMILY_OF, {"token_hash": token_hash}).first()
        return None if row is None else str(row[0])

    def mark_rotated(self, token_id: str, at: datetime) -> None:
        """See RefreshTokens.mark_rotated."""
        sql(self._session, _MARK_ROTATED, {"token_id": token_id, "at": at})

    def revoke_family(self, family_id: str) -> None:
        """See RefreshTokens.revoke_family."""
        sql(self._session, _REVOKE_FAMILY, {"family_id": family_id})

    def revoke_user(self, user_id: str) -> int:
        """See RefreshTokens.revoke_user."""
        return int(sql(self._session, _REVOKE_USER, {"user_id": user_id}).rowcount)


class SqlAuthUnitOfWork(SqlUnitOfWork):
    """The auth service's unit of work on PostgreSQL: the repositories share its session.
    (auth_service consumes no events, so none joins an inbox consumer's transaction.)"""

    def __init__(
        self, session: Session, *, owns_transaction: bool = True, cause: Cause | None = None
    ) -> None:
        super().__init__(session, owns_transaction=owns_transaction, cause=cause)
        self.accounts = SqlAccounts(self)
        self.refresh_tokens = SqlRefreshTokens(session)
        self.login_throttle = SqlLoginThrottle(session)
        self.guest_throttle = SqlAddressBuckets(session, guest_address_buckets)
        self.signing_keys = SqlSigningKeys(session)
