"""Issuing access tokens: RS256 JWTs signed with the newest signing key."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import jwt

from auth_service.application.ports import KeyCipher, KeyEncryptionError, UnitOfWorkFactory
from auth_service.application.signing_keys import SigningKey, load_keys
from servicekit.logging import get_logger
from servicekit.tokens import ALGORITHM, AUDIENCE, ISSUER

log = get_logger(__name__)


class TokenIssuer:
    """Signs access tokens with the newest key; re-reads the keys periodically, since another
    instance may have rotated them."""

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        cipher: KeyCipher,
        *,
        access_ttl: int,
        reload_seconds: float,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._cipher = cipher
        self.access_ttl = access_ttl
        self._reload_seconds = reload_seconds
        self._lock = threading.Lock()
        self._loaded_at = 0.0
        self._key: SigningKey | None = None
        self._jwks: dict[str, Any] = {"keys": []}

    def _current(self) -> tuple[SigningKey, dict[str, Any]]:
        with self._lock:
            if self._key is None or time.monotonic() - self._loaded_at > self._reload_seconds:
                try:
                    with self._unit_of_work() as uow:
                        self._key, self._jwks = load_keys(uow.signing_keys, self._cipher)
                except KeyEncryptionError as exc:
                    if self._key is None:
                        raise
                    # E.g. another instance re-encrypted the keys under a KEK this one does not
                    # have yet: keep signing with the keys already opened, and say so.
                    log.error("signing_keys_reload_failed", error=str(exc))
                self._loaded_at = time.monotonic()
            return self._key, self._jwks

    def jwks(self) -> dict[str, Any]:
        """Every published public key."""
        return self._current()[1]

    def access_token(self, *, user_id: str, email: str | None, roles: list[str]) -> str:
        """A short-lived RS256 access token for one account (a guest's has no email)."""
        key, _ = self._current()
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": user_id,
            "roles": roles,
            "iat": now,
            "exp": now + self.access_ttl,
            "jti": uuid.uuid4().hex,
        }
        if email is not None:
            claims["email"] = email
        return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})
