"""TokenVerifier while the signing keys cannot be fetched: 503-style KeysUnavailable, never a
refusal; the last good key set survives failed fetches; unknown kids cannot make it fetch more
than once per interval."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from servicekit.tokens import AUDIENCE, ISSUER, InvalidToken, KeysUnavailable, TokenVerifier

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
JWKS = {
    "keys": [
        {
            **jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True),
            "kid": "k1",
            "use": "sig",
            "alg": "RS256",
        }
    ]
}


def token(kid: str = "k1", lifetime: int = 900, **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "u1",
        "roles": ["customer"],
        "iat": now,
        "exp": now + lifetime,
        "jti": uuid.uuid4().hex,
        **claims,
    }
    return jwt.encode(body, KEY, algorithm="RS256", headers={"kid": kid})


class Auth:
    """A JWKS endpoint that is up or down."""

    def __init__(self, *, up: bool) -> None:
        self.up = up
        self.fetches = 0

    async def fetch(self) -> dict[str, Any]:
        self.fetches += 1
        if not self.up:
            raise ConnectionError("auth service unreachable")
        return JWKS


def test_keys_that_cannot_be_loaded_mean_unavailable_not_invalid() -> None:
    auth = Auth(up=False)
    verifier = TokenVerifier(auth.fetch, min_refresh_interval=60, failed_retry_interval=0)

    async def run() -> None:
        with pytest.raises(KeysUnavailable):
            await verifier.verify(token())
        auth.up = True
        principal = await verifier.verify(token())  # the next attempt loads the keys
        assert principal.user_id == "u1"

    asyncio.run(run())


def test_last_good_keys_survive_a_failed_refresh() -> None:
    auth = Auth(up=True)
    verifier = TokenVerifier(auth.fetch, min_refresh_interval=0, failed_retry_interval=0)

    async def run() -> None:
        assert await verifier.load_keys()
        auth.up = False
        assert not await verifier.load_keys()
        assert (await verifier.verify(token())).user_id == "u1"
        # An unknown kid while the keys cannot be refreshed: we cannot know it is unknown.
        with pytest.raises(KeysUnavailable):
            await verifier.verify(token(kid="other"))

    asyncio.run(run())


def test_unknown_kid_is_refused_and_refreshes_at_most_once_per_interval() -> None:
    auth = Auth(up=True)
    verifier = TokenVerifier(auth.fetch, min_refresh_interval=3600)

    async def run() -> None:
        assert await verifier.load_keys()
        for _ in range(5):
            with pytest.raises(InvalidToken, match="unknown key"):
                await verifier.verify(token(kid=f"forged-{uuid.uuid4().hex}"))
        assert auth.fetches == 1  # the load above; no forged kid triggered another

    asyncio.run(run())


def test_token_lifetime_longer_than_granted_is_refused() -> None:
    verifier = TokenVerifier(Auth(up=True).fetch, max_lifetime_seconds=900)

    async def run() -> None:
        assert (await verifier.verify(token(lifetime=900))).user_id == "u1"
        with pytest.raises(InvalidToken, match="lifetime"):
            await verifier.verify(token(lifetime=86_400))

    asyncio.run(run())
