"""Where the signing keys live: the SQL side of ``SigningKeys`` (application/ports.py); what
the keys are and how they are opened is in application/signing_keys.py."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.orm import Session

from auth_service.adapters.tables import signing_keys
from auth_service.application.ports import StoredKey

# Advisory lock: two instances starting at once make one key, and key creation, encryption of
# old plaintext keys and KEK rotation never interleave.
_KEYS_LOCK = 0x5E_1A_7C_0D

# In the order of StoredKey's fields.
_COLUMNS = (
    signing_keys.c.kid,
    signing_keys.c.public_jwk,
    signing_keys.c.private_key_encrypted,
    signing_keys.c.private_pem,
)


class SqlSigningKeys:
    """The signing keys in PostgreSQL, in the unit of work's session."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def lock(self) -> None:
        """See SigningKeys.lock."""
        self._session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _KEYS_LOCK})

    def stored(self, *, for_update: bool = False) -> list[StoredKey]:
        """See SigningKeys.stored."""
        query = select(*_COLUMNS).order_by(signing_keys.c.created_at.desc(), signing_keys.c.kid)
        if for_update:
            query = query.with_for_update()
        return [StoredKey(*row) for row in self._session.execute(query)]

    def published(self) -> list[StoredKey]:
        """See SigningKeys.published."""
        rows = self._session.execute(
            select(*_COLUMNS)
            .where(signing_keys.c.retired_at.is_(None))
            .order_by(signing_keys.c.created_at.desc(), signing_keys.c.kid)
        )
        return [StoredKey(*row) for row in rows]

    def in_clear(self) -> list[StoredKey]:
        """See SigningKeys.in_clear."""
        rows = self._session.execute(
            select(*_COLUMNS)
            .where(signing_keys.c.private_key_encrypted.is_(None))
            .with_for_update()
        )
        return [StoredKey(*row) for row in rows]

    def add(self, kid: str, private_key_encrypted: str, public_jwk: dict[str, Any]) -> None:
        """See SigningKeys.add."""
        self._session.execute(
            insert(signing_keys).values(
                kid=kid, private_key_encrypted=private_key_encrypted, public_jwk=public_jwk
            )
        )

    def store_encrypted(self, kid: str, private_key_encrypted: str) -> None:
        """See SigningKeys.store_encrypted."""
        self._session.execute(
            update(signing_keys)
            .where(signing_keys.c.kid == kid)
            .values(private_key_encrypted=private_key_encrypted, private_pem=None)
        )

    def retire_all_but(self, kid: str) -> int:
        """See SigningKeys.retire_all_but."""
        result = self._session.execute(
            update(signing_keys)
            .where(signing_keys.c.kid != kid, signing_keys.c.retired_at.is_(None))
            .values(active=False, retired_at=text("now()"))
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
