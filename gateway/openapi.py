"""The public API's OpenAPI document, made from the services' own documents.

The gateway forwards requests without knowing their shapes; the services know them, and each
publishes its OpenAPI document at ``/openapi.json``. The gateway fetches them from an UP
instance of each routed service (at start, then every ``GATEWAY_OPENAPI_REFRESH_SECONDS``),
keeps the paths its routes lead to, and merges them into one document: nothing is declared here
by hand, so the document cannot drift from what the services enforce. A service that cannot be
reached keeps its last fetched part.

Schemas of different services that share a name but differ are renamed ``<Service>_<Name>``
(and the references to them rewritten); identical ones are kept once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import httpx

from servicekit.discovery import ServiceInstance
from servicekit.logging import get_logger

log = get_logger(__name__)

TITLE = "Order platform API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Everything clients reach through the gateway on port 8080, as the services behind it "
    "declare it. Endpoints marked with a lock need `Authorization: Bearer <access_token>` from "
    '`POST /api/auth/login`. Errors are `{"detail": ...}`. Besides the answers each endpoint '
    "lists, the gateway itself may answer 503 when a service has no available instance, 504 "
    "when it did not answer in time, and 502 when it failed mid-answer. Every response carries "
    "`X-Request-ID` (the client's, or one made by the gateway)."
)
_SCHEMAS = "#/components/schemas/"

Fetch = Callable[[str], Awaitable[dict[str, Any]]]


class Instances(Protocol):
    """The part of discovery the document needs."""

    def instances(self, app_name: str) -> list[ServiceInstance]:
        """UP instances of an app."""
        ...


class PublicApiDocs:
    """The merged document, refreshed from the services in the background."""

    def __init__(
        self,
        routes: Mapping[str, str],
        discovery: Instances,
        *,
        refresh_seconds: float,
        fetch: Fetch | None = None,
    ) -> None:
        self.routes = dict(routes)  # path prefix -> app name
        self.discovery = discovery
        self.refresh_seconds = refresh_seconds
        self._fetch = fetch
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._parts: dict[str, dict[str, Any]] = {}  # app name -> its last document
        self._document = merge({}, self._prefixes())

    def document(self) -> dict[str, Any]:
        """The current public document."""
        return self._document

    async def start(self) -> None:
        """Fetch in the background: the gateway serves traffic before every service is up."""
        if self._fetch is None:
            self._client = httpx.AsyncClient(timeout=5.0)
            self._fetch = self._fetch_json
        self._task = asyncio.create_task(self._refresh_forever(), name="openapi-refresh")

    async def stop(self) -> None:
        """Stop refreshing."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            await self._client.aclose()

    async def refresh(self) -> bool:
        """Fetch every routed service's document once; True when all of them answered."""
        assert self._fetch is not None, "start() first, or pass fetch="
        complete = True
        for app in sorted(set(self.routes.values())):
            document = await self._fetch_from_any(app)
            if document is None:
                complete = False
            else:
                self._parts[app] = document
        self._document = merge(self._parts, self._prefixes())
        return complete

    async def _refresh_forever(self) -> None:
        while True:
            complete = await self.refresh()
            # Until every service has answered once, look again soon.
            await asyncio.sleep(self.refresh_seconds if complete else 2.0)

    async def _fetch_from_any(self, app: str) -> dict[str, Any] | None:
        assert self._fetch is not None
        for instance in self.discovery.instances(app):
            try:
                return await self._fetch(f"{instance.base_url}/openapi.json")
            except (httpx.HTTPError, ValueError) as exc:
                log.info("openapi_fetch_failed", app=app, error=str(exc) or type(exc).__name__)
        return None

    async def _fetch_json(self, url: str) -> dict[str, Any]:
        assert self._client is not None
        response = await self._client.get(url)
        response.raise_for_status()
        document = response.json()
        if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
            raise ValueError(f"{url} did not answer an OpenAPI document")
        return document

    def _prefixes(self) -> dict[str, list[str]]:
        prefixes: dict[str, list[str]] = {}
        for prefix, app in self.routes.items():
            prefixes.setdefault(app, []).append(prefix)
        return prefixes


def merge(parts: Mapping[str, dict[str, Any]], prefixes: Mapping[str, list[str]]) -> dict[str, Any]:
    """One document from each app's own: the paths under the app's route prefixes, and every
    component they use (a name taken by a different schema of another app is prefixed)."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    security: dict[str, Any] = {}
    for app in sorted(parts):
        document = parts[app]
        components = document.get("components", {})
        renames = {
            name: f"{_pascal(app)}_{name}"
            for name, schema in components.get("schemas", {}).items()
            if name in schemas and schemas[name] != schema
        }
        if renames:
            document = _renamed(document, renames)
        components = document.get("components", {})
        for name, schema in components.get("schemas", {}).items():
            schemas[renames.get(name, name)] = schema
        security.update(components.get("securitySchemes", {}))
        for path, item in document.get("paths", {}).items():
            if any(path == p or path.startswith(p + "/") for p in prefixes.get(app, ())):
                paths[path] = item
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION, "description": DESCRIPTION},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(schemas.items()))},
    }
    if security:
        merged["components"]["securitySchemes"] = security
    return merged


def _renamed(node: Any, renames: Mapping[str, str]) -> Any:
    """A copy of ``node`` with the references to renamed schemas rewritten."""
    if isinstance(node, dict):
        copy: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(_SCHEMAS):
                name = value.removeprefix(_SCHEMAS)
                copy[key] = _SCHEMAS + renames.get(name, name)
            else:
                copy[key] = _renamed(value, renames)
        return copy
    if isinstance(node, list):
        return [_renamed(item, renames) for item in node]
    return node


def _pascal(app: str) -> str:
    """ORDER-SERVICE -> OrderService."""
    return "".join(part.capitalize() for part in app.replace("_", "-").split("-"))
