"""Access-token verification, the same in the gateway and in every service.

RS256 only (the algorithm is pinned, never read from the token), ``iss``, ``aud``, ``exp``, ``iat``,
``sub`` and ``jti`` required, the key chosen by ``kid`` from the auth service's JWKS. An unknown
``kid`` triggers one JWKS refresh (rate-limited), so a rotated key is picked up without a restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from servicekit.logging import get_logger
from servicekit.settings import jwks_urls

log = get_logger(__name__)

ALGORITHM = "RS256"
ISSUER = "order-platform-auth"
AUDIENCE = "order-platform"

JwksFetcher = Callable[[], Awaitable[dict[str, Any]]]


class InvalidToken(Exception):
    """The token must be refused (401); the message says why, without echoing the token."""


class KeysUnavailable(Exception):
    """The signing keys could not be loaded, so the token can be neither accepted nor refused:
    answer 503 with Retry-After, never 401 (clients treat 401 as final)."""

    retry_after_seconds = 2


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as the access token says."""

    user_id: str
    roles: frozenset[str]
    email: str | None = None

    @property
    def is_admin(self) -> bool:
        """True for the admin role."""
        return "admin" in self.roles

    @property
    def is_staff(self) -> bool:
        """True for the staff role, and for admins (who may do everything staff does)."""
        return "staff" in self.roles or self.is_admin


class TokenVerifier:
    """Verifies access tokens against a JWKS fetched on demand and cached.

    The last good key set is kept across failed fetches. A token whose ``kid`` is not in it
    triggers a fetch, at most one per ``min_refresh_interval`` (``failed_retry_interval`` while
    fetches fail), so forged kids cannot make us hammer the auth service; when the keys cannot
    be loaded the answer is :class:`KeysUnavailable`, not a refusal.
    """

    def __init__(
        self,
        fetch_jwks: JwksFetcher,
        *,
        issuer: str = ISSUER,
        audience: str = AUDIENCE,
        leeway: float = 5.0,
        min_refresh_interval: float = 5.0,
        failed_retry_interval: float = 1.0,
        max_lifetime_seconds: float | None = None,
        cache_size: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch_jwks = fetch_jwks
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.min_refresh_interval = min_refresh_interval
        self.failed_retry_interval = failed_retry_interval
        self.max_lifetime_seconds = max_lifetime_seconds
        self._keys: dict[str, Any] = {}
        self.keys_ok = False  # whether the last fetch succeeded
        self._next_refresh = 0.0
        self._lock = asyncio.Lock()
        # Tokens that verified, by their exact text: (principal, exp). A client sends the same
        # token with every call until it expires, and an RS256 check cost a service more than
        # the rest of an order request's authentication. Bounded; 0 turns it off (the gateway
        # has its own cache and measures the uncached check).
        self.cache_size = cache_size
        self._clock = clock
        self._verified: dict[str, tuple[Principal, float]] = {}
        self._jwks_keys: list[Any] | None = None

    def set_keys(self, jwks: dict[str, Any]) -> None:
        """Replace the known keys with a JWKS document's RSA signing keys."""
        keys: dict[str, Any] = {}
        for jwk in jwks.get("keys", []):
            if jwk.get("kty") == "RSA" and jwk.get("kid") and jwk.get("use", "sig") == "sig":
                keys[jwk["kid"]] = jwt.PyJWK(jwk, algorithm=ALGORITHM).key
        self._keys = keys
        self.keys_ok = True
        if jwks.get("keys") != self._jwks_keys:
            # A withdrawn key must stop working as it would without the cache.
            self._verified.clear()
            self._jwks_keys = jwks.get("keys")

    async def load_keys(self) -> bool:
        """Fetch the key set now; on failure keep the keys we have. True if it loaded."""
        try:
            jwks = await self._fetch_jwks()
            self.set_keys(jwks)
        except Exception as exc:  # noqa: BLE001 - any failure: keep the last good key set
            self.keys_ok = False
            log.warning("jwks_fetch_failed", error=str(exc) or type(exc).__name__)
        self._next_refresh = time.monotonic() + (
            self.min_refresh_interval if self.keys_ok else self.failed_retry_interval
        )
        return self.keys_ok

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() >= self._next_refresh:
                await self.load_keys()

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token, or InvalidToken."""
        cached = self._verified.get(token)
        if cached is not None:
            if self._clock() < cached[1]:
                return cached[0]
            del self._verified[token]
        return await self._verify(token)

    async def _verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed token") from exc
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("token algorithm not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("token has no key id")
        if kid not in self._keys:
            await self._refresh()
        key = self._keys.get(kid)
        if key is None:
            if not self.keys_ok:
                raise KeysUnavailable("signing keys cannot be loaded right now, try again")
            raise InvalidToken("token signed by an unknown key")
        return self.decode(token, key)

    def decode(self, token: str, key: Any) -> Principal:
        """Check signature and claims with a known key."""
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "sub", "iss", "aud", "jti"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("token expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"token rejected: {exc}") from exc
        if self.max_lifetime_seconds is not None:
            lifetime = float(claims["exp"]) - float(claims["iat"])
            if lifetime > self.max_lifetime_seconds + self.leeway:
                raise InvalidToken("token lifetime longer than this issuer grants")
        roles = claims.get("roles", [])
        if not isinstance(roles, list):
            raise InvalidToken("token roles malformed")
        principal = Principal(
            user_id=str(claims["sub"]), roles=frozenset(map(str, roles)), email=claims.get("email")
        )
        if self.cache_size > 0:
            if len(self._verified) >= self.cache_size:
                # The oldest entry goes; a dropped token is simply verified again.
                del self._verified[next(iter(self._verified))]
            self._verified[token] = (principal, float(claims["exp"]))
        return principal


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def jwks_fetcher(*, url: str, client: httpx.AsyncClient, timeout: float) -> JwksFetcher:
    """A JWKS fetcher for TokenVerifier reading ``url``: one address, or several comma-separated
    (every auth instance), asked in turn until one answers a JWKS document, so that one instance
    down does not leave a process that has just started without keys. Only called on start, on
    an unknown kid (rate limited by the verifier) and on the periodic refresh: never per
    request."""
    urls = jwks_urls(url)

    async def fetch_one(one: str) -> dict[str, Any]:
        response = await client.get(one, timeout=timeout)
        response.raise_for_status()
        jwks = response.json()
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise ValueError(f"{one} did not answer a JWKS document")
        return jwks

    async def fetch() -> dict[str, Any]:
        for one in urls[:-1]:
            try:
                return await fetch_one(one)
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("jwks_source_failed", url=one, error=str(exc) or type(exc).__name__)
        return await fetch_one(urls[-1])

    return fetch
