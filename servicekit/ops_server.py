"""A small HTTP server for processes that are not web apps (the relay, standalone consumers):
``GET /health`` and ``GET /metrics``, served from a daemon thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

HealthCheck = Callable[[], tuple[bool, dict[str, object]]]


def serve_ops_http(host: str, port: int, health: HealthCheck) -> ThreadingHTTPServer:
    """Start serving /health and /metrics; returns the server so the caller can shut it down."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._reply(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
            elif self.path == "/health":
                ok, detail = health()
                body = orjson.dumps({"status": "ok" if ok else "unavailable", **detail})
                self._reply(200 if ok else 503, body, "application/json")
            else:
                self._reply(404, b'{"detail":"not found"}', "application/json")

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            """Scrapes and probes every few seconds are not news."""

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="ops-http", daemon=True).start()
    return server
