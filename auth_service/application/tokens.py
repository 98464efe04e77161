"""Issuing access tokens (RS256 JWTs) and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import uuid
from typing import Any

import jwt
from sqlalchemy.orm import Session, sessionmaker

from auth_service.adapters.key_encryption import KeyEncryptionError, KeyEncryptionKeys
from auth_service.adapters.keys import SigningKey, load_keys
from servicekit.logging import get_logger
from servicekit.tokens import ALGORITHM, AUDIENCE, ISSUER

log = get_logger(__name__)


class TokenIssuer:
    """Signs access tokens with the newest key; re-reads keys periodically (rotation)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        kek: KeyEncryptionKeys,
        *,
        access_ttl: int,
        reload_seconds: float,
    ) -> None:
        self._sessions = sessions
        self._kek = kek
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
                    with self._sessions() as session:
                        self._key, self._jwks = load_keys(session, self._kek)
                except KeyEncryptionError as exc:
                    if self._key is None:
                        raise
                    # E.g. another instance re-encrypted the keys under a KEK this one does not
                    # have yet: keep signing with the keys already opened, and say so.
                    log.error("signing_keys_reload_failed", error=str(exc))
                self._loaded_at = time.monotonic()
            return self._key, self._jwks

    def reload(self) -> None:
        """Forget the cached keys (after a rotation in this process)."""
        with self._lock:
            self._key = None

    def jwks(self) -> dict[str, Any]:
        """Every published public key."""
        return self._current()[1]

    def access_token(self, *, user_id: str, email: str, roles: list[str]) -> str:
        """A short-lived RS256 access token for one account."""
        key, _ = self._current()
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": user_id,
            "email": email,
            "roles": roles,
            "iat": now,
            "exp": now + self.access_ttl,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})


def new_refresh_token() -> tuple[str, str]:
    """An opaque refresh token and the hash we store instead of it."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    """sha256: the token has 256 bits of entropy, so a fast hash is enough."""
    return hashlib.sha256(token.encode()).hexdigest()
