"""The SQL side of the profile use cases: the repository behind application/ports.py and the
unit of work that holds it. Hand-written statements (see ``servicekit.db.sql`` for why), one
round trip each."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
from sqlalchemy.orm import Session

from servicekit.db import sql
from servicekit.messaging.unit_of_work import Cause, SqlUnitOfWork
from user_service.domain.model import AGGREGATE, Address, Profile

_INSERT = """
INSERT INTO profiles (user_id, email, full_name)
VALUES (%(user_id)s::uuid, %(email)s, %(full_name)s)
ON CONFLICT (user_id) DO NOTHING
RETURNING user_id
"""

_LOAD_FOR_UPDATE = """
SELECT email, full_name, phone, addresses FROM profiles
WHERE user_id = %(user_id)s::uuid
FOR UPDATE
"""

_SAVE = """
UPDATE profiles
SET full_name = %(full_name)s, phone = %(phone)s, addresses = %(addresses)s::jsonb,
    updated_at = now()
WHERE user_id = %(user_id)s::uuid
"""


def addresses_from(stored: list[dict[str, Any]] | None) -> list[Address]:
    """The addresses kept as JSON (null in rows written by older versions: none)."""
    return [Address(**address) for address in stored or []]


class SqlProfiles:
    """Profiles in PostgreSQL; every profile loaded for change or added is tracked by the unit
    of work, which publishes the events it recorded."""

    def __init__(self, uow: SqlUserUnitOfWork) -> None:
        self._uow = uow
        self._session = uow.session

    def add(self, profile: Profile) -> bool:
        """See Profiles.add."""
        self._uow.lock(AGGREGATE, profile.user_id)
        values = {
            "user_id": profile.user_id,
            "email": profile.email,
            "full_name": profile.full_name,
        }
        if sql(self._session, _INSERT, values).first() is None:
            return False
        self._uow.track(profile)
        return True

    def get_for_update(self, user_id: str) -> Profile | None:
        """See Profiles.get_for_update."""
        self._uow.lock(AGGREGATE, user_id)
        row = sql(self._session, _LOAD_FOR_UPDATE, {"user_id": user_id}).first()
        if row is None:
            return None
        email, full_name, phone, addresses = tuple(row)
        profile = Profile(user_id, email, full_name, phone, addresses_from(addresses))
        self._uow.track(profile)
        return profile

    def save(self, profile: Profile) -> None:
        """See Profiles.save."""
        addresses = [dataclasses.asdict(address) for address in profile.addresses]
        sql(
            self._session,
            _SAVE,
            {
                "user_id": profile.user_id,
                "full_name": profile.full_name,
                "phone": profile.phone,
                "addresses": orjson.dumps(addresses).decode(),
            },
        )


class SqlUserUnitOfWork(SqlUnitOfWork):
    """The user service's unit of work on PostgreSQL."""

    def __init__(
        self, session: Session, *, owns_transaction: bool = True, cause: Cause | None = None
    ) -> None:
        super().__init__(session, owns_transaction=owns_transaction, cause=cause)
        self.profiles = SqlProfiles(self)

    @classmethod
    def joining(cls, session: Session, cause: Cause) -> SqlUserUnitOfWork:
        """One that joins the inbox consumer's transaction (consumed events)."""
        return cls(session, owns_transaction=False, cause=cause)
