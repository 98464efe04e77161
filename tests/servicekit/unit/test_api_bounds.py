"""The wire bounds every service shares (servicekit.api): text PostgreSQL can store, pages whose
offset fits, and every string a client can send declared with them in the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import TypeAdapter, ValidationError

from servicekit.api import MAX_PAGE, NO_NUL_PATTERN, Text

SERVICES = [
    "auth_service",
    "user_service",
    "product_service",
    "order_service",
    "payment_service",
    "notification_service",
    "ops_service",
]


@pytest.mark.parametrize("value", ["a\x00b", "\x00", "lone \ud800 surrogate"])
def test_text_the_database_cannot_store_is_refused(value: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(Text).validate_python(value)
    with pytest.raises(ValidationError):
        TypeAdapter(Text | None).validate_python(value)


def test_ordinary_text_passes_and_declares_its_bound() -> None:
    assert TypeAdapter(Text).validate_python("São Paulo, nº 10") == "São Paulo, nº 10"
    assert TypeAdapter(Text).json_schema()["pattern"] == NO_NUL_PATTERN


def _app(package: str) -> FastAPI:
    module = __import__(f"{package}.main", fromlist=["create_app"])
    app: FastAPI = module.create_app()
    return app


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        node = document["components"]["schemas"][name]
    return node


def _unbounded_strings(document: dict[str, Any], node: dict[str, Any], where: str) -> list[str]:
    """Every string a client can send with neither the NUL bound, nor a format or enum."""
    node = _resolve(document, node)
    found: list[str] = []
    for branch in node.get("anyOf", []) + node.get("allOf", []):
        found += _unbounded_strings(document, branch, where)
    if node.get("type") == "string" and not (
        node.get("pattern") or node.get("format") or node.get("enum") or node.get("const")
    ):
        found.append(where)
    for name, child in node.get("properties", {}).items():
        found += _unbounded_strings(document, child, f"{where}.{name}")
    if isinstance(node.get("items"), dict):
        found += _unbounded_strings(document, node["items"], f"{where}[]")
    return found


@pytest.mark.parametrize("package", SERVICES)
def test_every_string_a_client_sends_is_bounded(package: str) -> None:
    document = _app(package).openapi()
    unbounded: list[str] = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                unbounded += _unbounded_strings(
                    document, parameter["schema"], f"{where} {parameter['name']}"
                )
            for media in operation.get("requestBody", {}).get("content", {}).values():
                unbounded += _unbounded_strings(document, media["schema"], f"{where} body")
    assert not unbounded


@pytest.mark.parametrize("package", SERVICES)
def test_every_operation_declares_the_errors_it_can_answer(package: str) -> None:
    document = _app(package).openapi()
    for path, operations in document["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert "503" in statuses, (method, path)
            if operation.get("security"):
                assert "401" in statuses, (method, path)
            if operation.get("parameters") or operation.get("requestBody"):
                assert "422" in statuses, (method, path)
            if operation.get("requestBody"):
                assert "400" in statuses, (method, path)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_pages_are_bounded_so_offsets_fit_a_bigint() -> None:
    document = _app("product_service").openapi()
    page = next(
        p for p in document["paths"]["/api/products"]["get"]["parameters"] if p["name"] == "page"
    )
    assert page["schema"]["maximum"] == MAX_PAGE
    assert MAX_PAGE * 100 < 2**63
