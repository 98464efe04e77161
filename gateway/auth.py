"""The gateway's token check: TokenVerifier (RS256 pinned, iss, aud, exp, kid from the JWKS),
with a cache of tokens that already passed it.

Verifying an RS256 signature and the claims costs more than the rest of the proxy's work per
request; a client sends the same access token with every call until it expires. So a token that
verified is remembered (the exact string) until its ``exp``, and forgotten as soon as the JWKS
changes, so a withdrawn key stops working at the next key refresh, as it would without the cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt

from servicekit.tokens import JwksFetcher, TokenVerifier


class TokenCheck:
    """Verifies tokens through a TokenVerifier, remembering valid ones until they expire."""

    def __init__(
        self,
        verifier: TokenVerifier,
        *,
        max_entries: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.verifier = verifier
        self.max_entries = max_entries
        self._clock = clock
        # token -> its exp (seconds since the epoch); insertion order doubles as eviction order.
        self._valid: dict[str, float] = {}

    async def verify(self, token: str) -> None:
        """Return if the token is valid; raise InvalidToken (the reason in its message) if not."""
        expires = self._valid.get(token)
        if expires is not None:
            if self._clock() < expires:
                return
            del self._valid[token]
        await self.verifier.verify(token)
        if self.max_entries > 0:
            self._remember(token)

    def _remember(self, token: str) -> None:
        try:
            # Already verified above: this only reads exp back out.
            claims = jwt.decode(token, options={"verify_signature": False})
            expires = float(claims["exp"])
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            return
        if len(self._valid) >= self.max_entries:
            # Drop the oldest entry; a dropped token is simply verified again next time.
            del self._valid[next(iter(self._valid))]
        self._valid[token] = expires

    def forget_all(self) -> None:
        """Drop every remembered token (the keys changed)."""
        self._valid.clear()

    def __len__(self) -> int:
        return len(self._valid)


def watching_key_changes(fetch: JwksFetcher, on_change: Callable[[], None]) -> JwksFetcher:
    """A JWKS fetcher that calls ``on_change`` whenever the fetched document differs from the
    previous one (the first fetch included)."""
    last: dict[str, Any] | None = None

    async def fetch_and_compare() -> dict[str, Any]:
        nonlocal last
        jwks = await fetch()
        if jwks != last:
            on_change()
            last = jwks
        return jwks

    return fetch_and_compare
