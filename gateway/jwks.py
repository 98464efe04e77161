"""Where the gateway gets the auth service's public keys: GATEWAY_JWKS_URL when set, else an UP
AUTH-SERVICE instance found in Eureka."""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from servicekit.discovery import ServiceInstance
from servicekit.tokens import JwksFetcher

AUTH_SERVICE = "AUTH-SERVICE"
JWKS_PATH = "/api/auth/.well-known/jwks.json"


class AuthInstances(Protocol):
    """The part of discovery the JWKS fetcher uses."""

    def round_robin(self, app_name: str) -> list[ServiceInstance]:
        """The app's instances, rotated one step per call."""
        ...


def jwks_fetcher(
    *, url: str, discovery: AuthInstances, client: httpx.AsyncClient, timeout: float
) -> JwksFetcher:
    """A JWKS fetcher for TokenVerifier: the fixed URL, or each AUTH-SERVICE instance in turn
    until one answers. Only called on start, on an unknown kid (rate limited by the verifier)
    and on the periodic refresh: never per request."""

    async def fetch() -> dict[str, Any]:
        urls = (
            [url]
            if url
            else [f"{i.base_url}{JWKS_PATH}" for i in discovery.round_robin(AUTH_SERVICE)]
        )
        last_error: Exception = LookupError(f"no {AUTH_SERVICE} instance in Eureka")
        for candidate in urls:
            try:
                response = await client.get(candidate, timeout=timeout)
                response.raise_for_status()
                jwks = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                last_error = exc
                continue
            if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
                last_error = ValueError(f"{candidate} did not answer a JWKS document")
                continue
            return jwks
        raise last_error

    return fetch
