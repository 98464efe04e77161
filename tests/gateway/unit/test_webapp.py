"""The web app at ``/`` (gateway.webapp): files from the build, index.html for the client's routes,
caching by kind of file, the Content-Security-Policy on every answer, paths that escape the build
refused, and a page that says to build the app when there is no build."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from starlette.types import Message, Scope

from gateway.main import create_app
from gateway.settings import GatewaySettings
from gateway.webapp import (
    CONTENT_SECURITY_POLICY,
    IMMUTABLE,
    WebApp,
    WebAppSettings,
    is_client_route,
)

INDEX = (
    '<!doctype html><html><head><script type="module" src="/assets/index-a1b2.js"></script>'
    '</head><body><div id="root"></div></body></html>'
)
SCRIPT = "console.log('app')"


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    """A build as Vite lays it out, with a secret beside it that must never be served."""
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "index-a1b2.js").write_text(SCRIPT)
    (root / "favicon.svg").write_text("<svg/>")
    (root / ".build-hash").write_text("abc")
    (tmp_path / "secret.txt").write_text("top secret")
    (root / "assets" / "escape.js").symlink_to(tmp_path / "secret.txt")
    return root


def client_for(app: WebApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def get(app: WebApp, path: str, **kwargs: object) -> httpx.Response:
    """One GET through the ASGI app."""

    async def run() -> httpx.Response:
        async with client_for(app) as client:
            return await client.get(path, **kwargs)

    return asyncio.run(run())


def raw_get(app: WebApp, path: str) -> tuple[int, bytes]:
    """A GET with ``path`` exactly as given in the ASGI scope (no client normalising it)."""
    sent: list[Message] = []
    scope: Scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("test", 80),
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


def assert_security_headers(response: httpx.Response) -> None:
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"


def test_the_root_and_client_routes_get_index_html_revalidated(dist: Path) -> None:
    app = WebApp(dist)
    for path in ("/", "/orders/3f2b6c1e-0d1a-4c53-9b7e-2a1f0c9d8e7b", "/admin/trace", "/cart/"):
        response = get(app, path)
        assert response.status_code == 200, path
        assert response.text == INDEX
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["cache-control"] == "no-cache"
        assert_security_headers(response)


def test_hashed_assets_are_cached_for_a_year(dist: Path) -> None:
    response = get(WebApp(dist), "/assets/index-a1b2.js")
    assert response.status_code == 200
    assert response.text == SCRIPT
    assert response.headers["cache-control"] == IMMUTABLE
    assert "javascript" in response.headers["content-type"]
    assert_security_headers(response)


def test_an_unchanged_asset_answers_304_with_the_same_headers(dist: Path) -> None:
    app = WebApp(dist)
    etag = get(app, "/assets/index-a1b2.js").headers["etag"]
    response = get(app, "/assets/index-a1b2.js", headers={"if-none-match": etag})
    assert response.status_code == 304
    assert response.headers["cache-control"] == IMMUTABLE
    assert_security_headers(response)


def test_other_files_are_served_but_revalidated(dist: Path) -> None:
    response = get(WebApp(dist), "/favicon.svg")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/assets/missing-ffff.js", "/robots.txt", "/assets/"])
def test_a_missing_file_is_404_not_the_app(dist: Path, path: str) -> None:
    response = get(WebApp(dist), path)
    assert response.status_code == 404
    assert INDEX not in response.text
    assert_security_headers(response)


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/assets/../../secret.txt",
        "/..",
        "/.build-hash",
        "/assets/escape.js",  # a symlink out of the build
        "/assets\\..\\..\\secret.txt",
    ],
)
def test_paths_out_of_the_build_and_hidden_files_are_refused(dist: Path, path: str) -> None:
    status, body = raw_get(WebApp(dist), path)
    assert status == 404
    assert b"top secret" not in body
    assert body != b"abc"  # the hidden build stamp


def test_encoded_dot_segments_are_refused_too(dist: Path) -> None:
    response = get(WebApp(dist), "/%2e%2e/secret.txt")
    assert response.status_code == 404
    assert "top secret" not in response.text


def test_only_get_and_head(dist: Path) -> None:
    async def run() -> tuple[httpx.Response, httpx.Response]:
        async with client_for(WebApp(dist)) as client:
            return await client.post("/", content=b"x"), await client.head("/assets/index-a1b2.js")

    post, head = asyncio.run(run())
    assert post.status_code == 405
    assert post.headers["allow"] == "GET, HEAD"
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["cache-control"] == IMMUTABLE


def test_without_a_build_a_page_says_to_build_it(tmp_path: Path) -> None:
    app = WebApp(tmp_path / "no-such-dist")
    for path in ("/", "/orders", "/assets/index-a1b2.js"):
        response = get(app, path)
        assert response.status_code == 503
        assert "make up" in response.text
        assert response.headers["cache-control"] == "no-store"
        assert_security_headers(response)


def test_a_build_made_after_start_is_served_without_a_restart(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    app = WebApp(dist)
    assert get(app, "/").status_code == 503
    dist.mkdir()
    (dist / "index.html").write_text(INDEX)
    assert get(app, "/").text == INDEX


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", True),
        ("/orders/3f2b6c1e", True),
        ("/admin/", True),
        ("/assets/x", False),
        ("/favicon.ico", False),
        ("/a/b.json", False),
    ],
)
def test_client_routes(path: str, expected: bool) -> None:
    assert is_client_route(path) is expected


def test_the_dist_directory_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_WEB_DIST", "/srv/web")
    assert WebAppSettings().web_dist == Path("/srv/web")
    monkeypatch.delenv("GATEWAY_WEB_DIST")
    assert WebAppSettings(_env_file=None).web_dist == Path("web/dist")


# -- wired into the gateway --------------------------------------------------------------------


def gateway_get(dist: Path, path: str) -> httpx.Response:
    """A GET through the whole gateway app (not started: these paths need no Eureka)."""
    app = create_app(GatewaySettings(), web=WebAppSettings(web_dist=dist))

    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(path)

    return asyncio.run(run())


def test_the_gateway_serves_the_app_and_keeps_its_own_routes(dist: Path) -> None:
    page = gateway_get(dist, "/orders")
    assert page.status_code == 200
    assert page.text == INDEX
    assert_security_headers(page)
    metrics = gateway_get(dist, "/metrics")
    assert metrics.status_code == 200
    assert "content-security-policy" not in metrics.headers
    assert gateway_get(dist, "/openapi.json").json()["openapi"]


def test_unknown_api_paths_stay_the_proxys_json_404(dist: Path) -> None:
    response = gateway_get(dist, "/api/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert "detail" in response.json()
    assert INDEX not in response.text
