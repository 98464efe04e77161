"""The public API as clients meet it: its OpenAPI document is the services' own, and no input,
however hostile, gets a 500 (the inputs an outside attack found, then schemathesis)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from devstack import layout
from tests.e2e.conftest import GATEWAY, User
from tests.e2e.saga_support import create_product, place_order
from tests.support import TcpForwarder, wait_for

pytestmark = pytest.mark.e2e

ROUTED = {
    "auth_service": ("/api/auth",),
    "user_service": ("/api/users",),
    "product_service": ("/api/products", "/api/categories"),
    "order_service": ("/api/orders",),
    "payment_service": ("/api/payments",),
    "notification_service": ("/api/notifications",),
    "ops_service": ("/api/ops",),
}


def _resolved(document: dict[str, Any], node: Any, seen: tuple[str, ...] = ()) -> Any:
    """``node`` with every schema reference replaced by what it names, so that documents whose
    schemas are named differently compare by content."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name in seen:
                return {"$recursive": name}
            target = document["components"]["schemas"][name]
            return _resolved(document, target, (*seen, name))
        return {key: _resolved(document, value, seen) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolved(document, item, seen) for item in node]
    return node


def test_the_gateway_publishes_every_path_and_schema_of_every_service_unchanged() -> None:
    services = {
        service.package: httpx.get(f"http://127.0.0.1:{service.port}/openapi.json").json()
        for service in layout.SERVICES
    }

    def complete() -> dict[str, Any] | None:
        document: dict[str, Any] = httpx.get(f"{GATEWAY}/openapi.json").json()
        wanted = {p for d in services.values() for p in d["paths"] if p.startswith("/api/")}
        return document if wanted <= set(document["paths"]) else None

    gateway = wait_for(complete, timeout=60, what="every service's paths at the gateway")
    assert gateway is not None  # wait_for returns only what is truthy
    for package, document in services.items():
        prefixes = ROUTED[package]
        published = [
            p for p in document["paths"] if any(p == x or p.startswith(x + "/") for x in prefixes)
        ]
        assert {x for x in prefixes if any(p.startswith(x) for p in published)} == set(prefixes), (
            package
        )
        for path in published:
            assert _resolved(gateway, gateway["paths"][path]) == _resolved(
                document, document["paths"][path]
            ), f"{package} {path}"
        # Internal operations (health, metrics) stay internal.
        assert not any(p in gateway["paths"] for p in document["paths"] if p not in published)
    security = gateway["components"]["securitySchemes"]
    assert security["HTTPBearer"]["scheme"] == "bearer"
    assert "security" not in gateway["paths"]["/api/products"]["get"]  # public
    assert gateway["paths"]["/api/orders"]["post"]["security"] == [{"HTTPBearer": []}]


def test_inputs_the_database_cannot_store_are_refused_with_422(
    api: httpx.Client, customer: User, admin: User
) -> None:
    cases = [
        api.get("/api/products", params={"q": "\x00"}),
        api.get("/api/products", params={"page": "1e30"}),
        api.get("/api/products", params={"page": str(2**63)}),
        api.get("/api/orders", params={"page": "576460752303423487"}, headers=customer.auth),
        api.post("/api/auth/login", json={"email": "a\x00@example.com", "password": "x"}),
        api.post(
            "/api/auth/register",
            json={"email": "nul@example.com", "password": "correct-horse-42", "full_name": "a\x00"},
        ),
        api.patch("/api/users/me", json={"full_name": "a\x00b"}, headers=customer.auth),
        api.post(
            "/api/products",
            headers=admin.auth,
            json={"sku": "NUL-1", "name": "a\x00b", "price": "1.00", "currency": "EUR", "stock": 1},
        ),
    ]
    for response in cases:
        assert response.status_code == 422, (response.request.url, response.text)
        assert response.json()["detail"], response.text
    # Nothing was written for the refused registration.
    assert api.post(
        "/api/auth/login", json={"email": "nul@example.com", "password": "correct-horse-42"}
    ).status_code in (401, 429)


def test_an_order_whose_total_overflows_is_refused_with_422(
    api: httpx.Client, customer: User, admin: User
) -> None:
    expensive = create_product(api, admin, stock=5000, price="9999999999.99")
    response = place_order(api, customer, [(expensive, 1000)])
    assert response.status_code == 422, response.text
    assert "total" in response.json()["detail"]
    listed = api.get("/api/orders", headers=customer.auth).json()
    assert listed["total"] == 0  # nothing written


CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "allow_header_conformance",
    ]
)


@pytest.mark.parametrize("with_token", [False, True], ids=["anonymous", "customer"])
def test_schemathesis_finds_no_server_error_and_no_nonconformance(
    customer: User, with_token: bool
) -> None:
    """Property-based requests from the published document, bounded in examples and time.

    The fuzzer connects from 127.0.0.2, as another host would: its hundreds of failed logins
    fill that address's login throttle, not the one every other test logs in from.
    """
    gateway = urlsplit(GATEWAY)
    fuzzer = TcpForwarder((gateway.hostname or "127.0.0.1", gateway.port or 80), source="127.0.0.2")
    fuzzer.open()
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"http://127.0.0.1:{fuzzer.port}/openapi.json",
        "--checks",
        CHECKS,
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        "25",
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--seed",
        "20261129",
    ]
    if with_token:
        command += ["--header", f"Authorization: Bearer {customer.access_token}"]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    finally:
        fuzzer.close()
    assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-3000:]
