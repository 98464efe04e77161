"""TokenVerifier's cache of verified tokens: a token that verified is answered from memory until
its exp, a key set that changes forgets every answer, and size 0 checks every call."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from servicekit.tokens import InvalidToken, Principal, TokenVerifier
from tests.servicekit.unit.test_token_keys import JWKS, token

OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_JWKS = {
    "keys": [
        {
            **jwt.algorithms.RSAAlgorithm.to_jwk(OTHER_KEY.public_key(), as_dict=True),
            "kid": "k2",
            "use": "sig",
            "alg": "RS256",
        }
    ]
}


class Clock:
    """A settable wall clock."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class CountingVerifier(TokenVerifier):
    """Counts the signature checks actually made."""

    checks = 0

    def decode(self, token: str, key: Any) -> Principal:
        self.checks += 1
        return super().decode(token, key)


async def _fetch() -> dict[str, Any]:
    return JWKS


def test_a_verified_token_is_answered_from_the_cache_until_it_expires() -> None:
    clock = Clock()
    verifier = CountingVerifier(_fetch, cache_size=10, clock=clock)
    valid = token(lifetime=600)

    async def run() -> None:
        first = await verifier.verify(valid)
        assert await verifier.verify(valid) == first
        assert verifier.checks == 1
        clock.now += 601  # past its exp by the cache's clock: the signature is checked again
        assert await verifier.verify(valid) == first
        assert verifier.checks == 2

    asyncio.run(run())


def test_a_changed_key_set_forgets_every_verified_token() -> None:
    verifier = CountingVerifier(_fetch, cache_size=10)
    valid = token()

    async def run() -> None:
        await verifier.verify(valid)
        verifier.set_keys(JWKS)  # the same keys again: nothing forgotten
        await verifier.verify(valid)
        assert verifier.checks == 1
        verifier.set_keys(OTHER_JWKS)  # k1 withdrawn
        with pytest.raises(InvalidToken, match="unknown key"):
            await verifier.verify(valid)

    asyncio.run(run())


def test_the_cache_is_bounded_and_size_zero_checks_every_call() -> None:
    bounded = CountingVerifier(_fetch, cache_size=2)
    uncached = CountingVerifier(_fetch)
    tokens = [token() for _ in range(3)]

    async def run() -> None:
        for each in tokens:
            await bounded.verify(each)
        await bounded.verify(tokens[0])  # the oldest was dropped for the third
        assert bounded.checks == 4
        for _ in range(3):
            await uncached.verify(tokens[0])
        assert uncached.checks == 3

    asyncio.run(run())
