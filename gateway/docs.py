"""``/docs``: Swagger UI over the gateway's ``/openapi.json``, with every asset served from this
gateway (the web build carries Swagger UI under ``/swagger-ui/``), so the page works without
internet access. No inline script: the page loads ``/docs/init.js``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Order platform API</title>
  <link rel="stylesheet" href="/swagger-ui/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"><p>Loading the API documentation&hellip; (if this stays, the web app
  has not been built: <code>make up</code> builds it)</p></div>
  <script src="/swagger-ui/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
"""

INIT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: false,
});
"""

# Swagger UI styles its widgets with style attributes; nothing else is loosened.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def docs_router() -> APIRouter:
    """GET /docs and its init script."""
    router = APIRouter(include_in_schema=False)

    @router.api_route("/docs", methods=["GET", "HEAD"])
    async def docs() -> HTMLResponse:
        return HTMLResponse(PAGE, headers=_HEADERS)

    @router.api_route("/docs/init.js", methods=["GET", "HEAD"])
    async def init() -> Response:
        return Response(INIT, media_type="text/javascript", headers=_HEADERS)

    return router
