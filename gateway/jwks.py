"""Where the gateway gets the auth service's public keys: JWKS_URL, the one address every service
reads too. Never an instance found in Eureka: whoever could list one there would choose the keys
every token is checked against."""

from __future__ import annotations

from typing import Any

import httpx

from servicekit.tokens import JwksFetcher


def jwks_fetcher(*, url: str, client: httpx.AsyncClient, timeout: float) -> JwksFetcher:
    """A JWKS fetcher for TokenVerifier reading ``url``. Only called on start, on an unknown kid
    (rate limited by the verifier) and on the periodic refresh: never per request."""

    async def fetch() -> dict[str, Any]:
        response = await client.get(url, timeout=timeout)
        response.raise_for_status()
        jwks = response.json()
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise ValueError("JWKS_URL did not answer a JWKS document")
        return jwks

    return fetch
