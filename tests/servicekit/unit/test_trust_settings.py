"""Where tokens' keys and the registry's credentials come from: JWKS_URL, one setting every service
and the gateway read, never an address found in Eureka; EUREKA_USERNAME / EUREKA_PASSWORD, never
left empty; and both end up on the wire the way the registry and py-eureka-client expect."""

from __future__ import annotations

import asyncio
import base64
from typing import Any, cast

import httpx
import pytest
from py_eureka_client import http_client
from pydantic import ValidationError

from gateway.settings import GatewaySettings
from product_service.settings import ProductSettings
from servicekit.discovery import authenticated_url
from servicekit.runtime import ServiceRuntime
from servicekit.service_app import configured_jwks
from servicekit.settings import DEFAULT_JWKS_URL, EurekaSettings, HttpServiceSettings
from servicekit.tokens import jwks_fetcher

KEYS = {"keys": [{"kty": "RSA", "kid": "k1", "n": "AQAB", "e": "AQAB"}]}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    for name in ("JWKS_URL", "GATEWAY_JWKS_URL", "PRODUCT_JWKS_URL", "EUREKA_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


def test_every_service_and_the_gateway_read_the_one_jwks_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ProductSettings().jwks_url == GatewaySettings().jwks_url == DEFAULT_JWKS_URL
    monkeypatch.setenv("JWKS_URL", "https://auth.internal/api/auth/.well-known/jwks.json")
    # The old per-process names are not read any more: one place to point at the keys.
    monkeypatch.setenv("PRODUCT_JWKS_URL", "http://elsewhere/jwks.json")
    monkeypatch.setenv("GATEWAY_JWKS_URL", "http://elsewhere/jwks.json")
    for settings in (ProductSettings(), GatewaySettings(), HttpServiceSettings()):
        assert settings.jwks_url == "https://auth.internal/api/auth/.well-known/jwks.json"


@pytest.mark.parametrize("value", ["", "auth-service", "ftp://auth/jwks.json", "http://"])
def test_a_jwks_url_that_is_no_http_address_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    # Empty used to mean "ask Eureka for an AUTH-SERVICE": now it is a mistake, said at start.
    monkeypatch.setenv("JWKS_URL", value)
    for settings_class in (ProductSettings, GatewaySettings):
        with pytest.raises(ValidationError, match="JWKS_URL"):
            settings_class()


class NoDiscovery:
    """Stands for the registry view: any use of it fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the JWKS fetcher looked at discovery.{name}")


def test_services_fetch_the_keys_from_jwks_url_and_nowhere_else() -> None:
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return httpx.Response(200, json=KEYS)

    settings = HttpServiceSettings(JWKS_URL="http://keys.example/jwks.json")
    runtime = ServiceRuntime(
        name="t", settings=settings, database=cast(Any, None), verifier=cast(Any, None)
    )
    runtime.discovery = cast(Any, NoDiscovery())

    async def fetch() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            return await configured_jwks(runtime, client)()

    assert asyncio.run(fetch()) == KEYS
    assert asked == ["http://keys.example/jwks.json"]


@pytest.mark.parametrize("body", [[], {"no": "keys"}, {"keys": "x"}])
def test_an_answer_that_is_no_jwks_document_loads_no_keys(body: Any) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    async def fetch() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            return await jwks_fetcher(url="http://keys/jwks.json", client=client, timeout=1)()

    with pytest.raises(ValueError, match="JWKS"):
        asyncio.run(fetch())


def test_several_jwks_urls_are_asked_in_turn_until_one_answers() -> None:
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        if request.url.host == "auth-1":
            raise httpx.ConnectError("refused", request=request)
        if request.url.host == "auth-2":
            return httpx.Response(503)
        return httpx.Response(200, json=KEYS)

    urls = "http://auth-1/jwks.json, http://auth-2/jwks.json,http://auth-3/jwks.json"

    async def fetch() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            return await jwks_fetcher(url=urls, client=client, timeout=1)()

    assert asyncio.run(fetch()) == KEYS
    assert asked == [
        "http://auth-1/jwks.json",
        "http://auth-2/jwks.json",
        "http://auth-3/jwks.json",
    ]


def test_when_no_jwks_url_answers_the_last_failure_is_raised() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    async def fetch() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
            urls = "http://auth-1/jwks.json,http://auth-2/jwks.json"
            return await jwks_fetcher(url=urls, client=client, timeout=1)()

    with pytest.raises(httpx.HTTPStatusError, match="auth-2"):
        asyncio.run(fetch())


@pytest.mark.parametrize("url", ["", ",", "http://a/jwks.json,ftp://b/jwks.json", "http://"])
def test_every_jwks_url_must_be_absolute_http(url: str) -> None:
    with pytest.raises(ValidationError, match="JWKS_URL"):
        HttpServiceSettings(jwks_url=url)


def test_eureka_credentials_may_not_be_empty() -> None:
    assert EurekaSettings().password.get_secret_value()  # the local default
    with pytest.raises(ValidationError, match="EUREKA_USERNAME and EUREKA_PASSWORD"):
        EurekaSettings(password="")
    with pytest.raises(ValidationError, match="EUREKA_USERNAME and EUREKA_PASSWORD"):
        EurekaSettings(username="", enabled=False)


@pytest.mark.parametrize(
    ("username", "password"),
    [("eureka", "eureka-local-password"), ("ops@site", "p@ss:w/rd%?#é ~")],
)
def test_credentials_reach_the_registry_as_a_basic_auth_header_and_leave_the_url(
    username: str, password: str
) -> None:
    url = authenticated_url("http://127.0.0.1:8761/eureka", username, password)
    request = http_client.HttpRequest(f"{url}/apps/", method="GET")
    assert request.url == "http://127.0.0.1:8761/eureka/apps/"
    scheme, _, encoded = request.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == f"{username}:{password}"
