"""`make up` returns once the gateway routes to every service: its check reads the gateway's
gauge of UP instances per service, served here by a stand-in /metrics."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from devstack import cli, layout


@pytest.fixture
def gateway_metrics(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The lines a stand-in gateway's /metrics answers with (the test fills them)."""
    lines: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = "\n".join(lines).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(layout, "GATEWAY_PORT", server.server_address[1])
    try:
        yield lines
    finally:
        server.shutdown()
        server.server_close()


def gauge(app: str, value: float) -> str:
    return f'gateway_upstream_instances{{service="{app}"}} {value}'


def test_routable_only_when_every_service_has_an_instance(gateway_metrics: list[str]) -> None:
    apps = [cli.eureka_app(service) for service in layout.SERVICES]
    gateway_metrics.extend(gauge(app, 1.0) for app in apps[:-1])
    gateway_metrics.append(gauge(apps[-1], 0.0))
    assert not cli.gateway_routes()

    gateway_metrics[-1] = gauge(apps[-1], 2.0)
    assert cli.gateway_routes()


def test_a_missing_service_or_no_gateway_is_not_routable(
    gateway_metrics: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway_metrics.extend(gauge(cli.eureka_app(s), 1.0) for s in layout.SERVICES[1:])
    assert not cli.gateway_routes()

    monkeypatch.setattr(layout, "GATEWAY_PORT", 9)  # discard: nothing answers
    assert not cli.gateway_routes()


def test_the_gap_names_each_service_without_an_instance(gateway_metrics: list[str]) -> None:
    apps = [cli.eureka_app(service) for service in layout.SERVICES]
    gateway_metrics.extend(gauge(app, 1.0) for app in apps[2:])
    gateway_metrics.append(gauge(apps[1], 0.0))  # listed, no UP instance; apps[0] not listed

    gap = cli.routing_gap()
    assert gap is not None
    assert apps[0] in gap and apps[1] in gap
    assert not any(app in gap for app in apps[2:])


def test_waiting_in_vain_says_what_is_missing(
    gateway_metrics: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    apps = [cli.eureka_app(service) for service in layout.SERVICES]
    gateway_metrics.extend(gauge(app, 1.0) for app in apps[:-1])
    with pytest.raises(SystemExit) as exited:
        cli.wait_routable(timeout=0)
    assert f"no UP instance of {apps[-1]} " in str(exited.value)

    monkeypatch.setattr(layout, "GATEWAY_PORT", 9)  # discard: nothing answers
    with pytest.raises(SystemExit) as exited:
        cli.wait_routable(timeout=0)
    assert "the gateway does not answer" in str(exited.value)
