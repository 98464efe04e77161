"""The SQL side of the profile use cases: the repository behind application/ports.py and the
unit of work that holds it. Hand-written statements (see ``servicekit.db.sql`` for why), one
round trip each."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from servicekit.db import sql
from servicekit.messaging.unit_of_work import Cause, SqlUnitOfWork
from user_service.application.ports import NATIONAL_ID_LOCK, national_id_lock_key
from user_service.domain.errors import NationalIdTaken
from user_service.domain.model import AGGREGATE, Address, Profile

# The unique index that gives each CPF to one profile at most (migration user_0005).
NATIONAL_ID_INDEX = "profiles_national_id"

_INSERT = """
INSERT INTO profiles (user_id, email, full_name, notification_channels, roles, guest)
VALUES (%(user_id)s::uuid, %(email)s, %(full_name)s, %(channels)s::text[], %(roles)s::text[],
        %(guest)s)
ON CONFLICT (user_id) DO NOTHING
RETURNING user_id
"""

_LOAD_FOR_UPDATE = """
SELECT email, full_name, phone, addresses, national_id, notification_channels, roles, guest
FROM profiles
WHERE user_id = %(user_id)s::uuid
FOR UPDATE
"""

_HOLDER = "SELECT user_id::text FROM profiles WHERE national_id = %(national_id)s"

# The email is the account's: written where there is none yet (a guest who registered).
_SAVE = """
UPDATE profiles
SET email = coalesce(email, %(email)s), full_name = %(full_name)s, phone = %(phone)s,
    addresses = %(addresses)s::jsonb, national_id = %(national_id)s,
    notification_channels = %(channels)s::text[], roles = %(roles)s::text[], guest = %(guest)s,
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
            "channels": list(profile.notification_channels),
            "roles": list(profile.roles),
            "guest": profile.guest,
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
        email, full_name, phone, addresses, national_id, channels, roles, guest = tuple(row)
        profile = Profile(
            user_id,
            email,
            full_name,
            phone,
            addresses_from(addresses),
            national_id=national_id,
            notification_channels=tuple(channels),
            roles=tuple(roles),
            guest=guest,
        )
        self._uow.track(profile)
        return profile

    def holder_of(self, national_id: str) -> str | None:
        """See Profiles.holder_of."""
        self._uow.lock(NATIONAL_ID_LOCK, national_id_lock_key(national_id))
        holder: str | None = sql(self._session, _HOLDER, {"national_id": national_id}).scalar()
        return holder

    def save(self, profile: Profile) -> None:
        """See Profiles.save."""
        addresses = [dataclasses.asdict(address) for address in profile.addresses]
        values = {
            "user_id": profile.user_id,
            "email": profile.email,
            "full_name": profile.full_name,
            "phone": profile.phone,
            "addresses": orjson.dumps(addresses).decode(),
            "national_id": profile.national_id,
            "channels": list(profile.notification_channels),
            "roles": list(profile.roles),
            "guest": profile.guest,
        }
        try:
            sql(self._session, _SAVE, values)
        except IntegrityError as exc:
            # Only when a claim skipped holder_of: with it, the loser of a race sees the winner.
            if getattr(getattr(exc.orig, "diag", None), "constraint_name", None) == (
                NATIONAL_ID_INDEX
            ):
                raise NationalIdTaken() from None
            raise


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
