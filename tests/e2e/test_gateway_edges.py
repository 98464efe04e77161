"""Edges of the public surface through the real gateway and services: a trailing slash is served
or 404, never a redirect naming an instance; no answer names an internal address; HEAD answers
like GET on public routes; TRACE is refused at the gateway."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import User

pytestmark = pytest.mark.e2e

# The services listen on 127.0.0.1:8101..8106: no client may ever see one of those addresses.
INTERNAL = "127.0.0.1:81"


def leaked(response: httpx.Response) -> list[tuple[str, str]]:
    """Response headers that name an internal address."""
    return [(name, value) for name, value in response.headers.multi_items() if INTERNAL in value]


@pytest.mark.parametrize("path", ["/api/orders/", "/api/products/", "/api/users/me/"])
def test_a_trailing_slash_is_served_or_404_never_a_redirect(
    api: httpx.Client, customer: User, path: str
) -> None:
    response = api.get(path, headers=customer.auth)
    assert response.status_code in (200, 404), (response.status_code, response.headers)
    assert not leaked(response)


def test_no_answer_names_an_internal_address(api: httpx.Client, customer: User) -> None:
    product = api.get("/api/products").json()["items"][0]["product_id"]
    requests = [
        ("GET", "/api/orders/", customer.auth),
        ("GET", "/api/orders", customer.auth),
        ("GET", "/api/products/", {}),
        ("GET", f"/api/products/{product}/", {}),
        ("GET", "/api/products/not-a-uuid", {}),
        ("GET", "/api/payments/", customer.auth),
        ("GET", "/api/notifications/", customer.auth),
        ("POST", "/api/orders/", customer.auth),
        ("POST", "/api/auth/login/", {}),
        ("DELETE", "/api/users/me/", customer.auth),
    ]
    for method, path, headers in requests:
        response = api.request(method, path, headers=headers)
        assert not 300 <= response.status_code < 400, (method, path, response.headers)
        assert not leaked(response), (method, path, leaked(response))
        assert INTERNAL not in response.text, (method, path, response.text[:300])


def test_head_answers_like_get_on_public_routes(api: httpx.Client) -> None:
    product = api.get("/api/products").json()["items"][0]["product_id"]
    for path in ("/api/products", f"/api/products/{product}", "/api/auth/.well-known/jwks.json"):
        get = api.get(path)
        head = api.head(path)
        assert (head.status_code, get.status_code) == (200, 200), path
        assert head.content == b""
        assert head.headers["content-type"] == get.headers["content-type"]
    # A single product's answer does not change between the two requests: same length.
    path = f"/api/products/{product}"
    assert api.head(path).headers["content-length"] == api.get(path).headers["content-length"]


def test_head_on_a_private_route_still_needs_a_token(api: httpx.Client, customer: User) -> None:
    assert api.head("/api/users/me").status_code == 401
    assert api.head("/api/users/me", headers=customer.auth).status_code == 200


@pytest.mark.parametrize("path", ["/api/products", "/api/orders", "/health"])
def test_trace_is_405_at_the_gateway(api: httpx.Client, customer: User, path: str) -> None:
    response = api.request("TRACE", path, headers=customer.auth)
    assert response.status_code == 405
    assert "GET" in response.headers["allow"]
    assert "TRACE" not in response.headers["allow"]
    # Nothing of the request (its token above all) is echoed back.
    assert customer.access_token not in response.text
