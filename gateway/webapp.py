"""The web app (``web/``, built into ``web/dist``) served at ``/``: files from the build, the app's
``index.html`` for the client's own routes, long caching for the hashed assets, and a strict
Content-Security-Policy with every answer.

``/api`` never reaches this module: the gateway sends it to the proxy first (``gateway.main``),
so an unknown API path still answers the proxy's JSON 404, never the app's page.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from servicekit.logging import get_logger

log = get_logger(__name__)

# No inline script or style, no framing, no other origin: the built app needs nothing else
# (images from the API arrive as data: URLs, the pix QR code among them).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}
# Vite names every file under assets/ by a hash of its content: a new build is a new name.
IMMUTABLE = "public, max-age=31536000, immutable"
# Everything else (index.html above all) is revalidated on each use, so a deploy shows at once.
REVALIDATE = "no-cache"
ASSETS_PREFIX = "/assets/"

NOT_BUILT_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Web app not built</title></head>
<body>
<main>
<h1>The web app is not built yet</h1>
<p>Build it with <code>make up</code>, or by hand:
<code>npm --prefix web ci &amp;&amp; npm --prefix web run build</code>.</p>
<p>The API works meanwhile: its documentation is at <a href="/docs">/docs</a>.</p>
</main>
</body>
</html>
"""


class WebAppSettings(BaseSettings):
    """Where the built web app is (prefix ``GATEWAY_``, like the gateway's other settings)."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=".env", extra="ignore")

    # Relative paths are read from the gateway's working directory (the repository's root
    # under `make up`, /app in the container image).
    web_dist: Path = Path("web/dist")


def is_client_route(path: str) -> bool:
    """True for a path the app's router handles (no file extension, not under /assets/)."""
    if path.startswith(ASSETS_PREFIX):
        return False
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return "." not in last


def is_refused(path: str) -> bool:
    """Paths never looked up: dot segments (``..``, hidden files), backslashes and NUL bytes."""
    if "\\" in path or "\x00" in path:
        return True
    return any(segment.startswith(".") for segment in path.split("/"))


class _DistFiles(StaticFiles):
    """Starlette's static files (path checks, ETag, 304, HEAD), falling back to the app's
    index.html for client routes."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        """The file at ``path``, or index.html for a client route that is not a file."""
        try:
            return await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code != 404 or not is_client_route(scope["path"]):
                raise
        return await super().get_response("index.html", scope)


class WebApp:
    """ASGI app serving the built web app; a missing build answers a page that says so."""

    def __init__(self, dist: Path) -> None:
        self.dist = dist
        self._index = dist / "index.html"
        self._files = _DistFiles(directory=dist, check_dir=False)
        self._reported_missing = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request."""
        if scope["type"] != "http":  # websockets: nothing here speaks them
            return
        response = await self._respond(scope)
        response.headers.update(SECURITY_HEADERS)
        await response(scope, receive, send)

    async def _respond(self, scope: Scope) -> Response:
        path: str = scope["path"]
        if scope["method"] not in ("GET", "HEAD"):
            return PlainTextResponse("method not allowed", 405, headers={"allow": "GET, HEAD"})
        if not await anyio.to_thread.run_sync(os.path.isfile, self._index):
            if not self._reported_missing:
                self._reported_missing = True
                log.warning("web_app_not_built", dist=str(self.dist))
            return Response(
                NOT_BUILT_PAGE,
                status_code=503,
                media_type="text/html",
                headers={"cache-control": "no-store"},
            )
        if self._reported_missing:
            self._reported_missing = False
            log.info("web_app_found", dist=str(self.dist))
        if is_refused(path):
            return PlainTextResponse("not found", 404, headers={"cache-control": REVALIDATE})
        try:
            response = await self._files.get_response(self._files.get_path(scope), scope)
        except HTTPException as exc:
            return PlainTextResponse(
                "not found" if exc.status_code == 404 else "refused",
                404 if exc.status_code == 404 else 403,
                headers={"cache-control": REVALIDATE},
            )
        hashed = path.startswith(ASSETS_PREFIX) and response.status_code in (200, 304)
        response.headers["cache-control"] = IMMUTABLE if hashed else REVALIDATE
        return response


def create_web_app(settings: WebAppSettings | None = None) -> WebApp:
    """The web app from settings (``GATEWAY_WEB_DIST``)."""
    settings = settings or WebAppSettings()
    return WebApp(settings.web_dist)
