"""Optional tracing (servicekit/telemetry.py): with OTEL_EXPORTER_OTLP_ENDPOINT set, a service
built by create_service_app sends OTLP spans of its requests and SQL to the collector there, in the
trace the caller's traceparent names; without it, none of the tracing machinery is loaded."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support import (
    REPO,
    ManagedProcess,
    free_port,
    scratch_database,
    sqlalchemy_url,
    wait_for,
)


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as the collector received it."""

    service: str
    name: str
    trace_id: str
    attributes: dict[str, str]


class OtlpReceiver:
    """A stand-in OTLP/HTTP collector: keeps every span POSTed to /v1/traces."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.paths.append(self.path)
                receiver.add(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, body: bytes) -> None:
        """Decode one export request."""
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes = {
                        a.key: a.value.string_value or str(a.value.int_value)
                        for a in span.attributes
                    }
                    self.spans.append(
                        ReceivedSpan(
                            resource.get("service.name", ""),
                            span.name,
                            span.trace_id.hex(),
                            attributes,
                        )
                    )


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    """A collector for one test."""
    collector = OtlpReceiver()
    yield collector
    collector.server.shutdown()


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """A throw-away database for the probe service."""
    with scratch_database("telemetry") as url:
        yield sqlalchemy_url(url)


def probe_service(database_url: str, log_path: Path, **env: str) -> ManagedProcess:
    """The probe service as a real process, started, answering /health."""
    port = free_port()
    service = ManagedProcess(
        [sys.executable, "-m", "tests.servicekit.integration.traced_app"],
        {"TEST_DB_URL": database_url, "TEST_PORT": str(port), **env},
        log_path,
        http_port=port,
    ).start()
    wait_for(service.health, timeout=30, interval=0.2, what="the probe service")
    return service


def test_requests_and_sql_are_traced_in_the_callers_trace(
    receiver: OtlpReceiver, database_url: str, tmp_path: Path
) -> None:
    service = probe_service(
        database_url,
        tmp_path / "probe.log",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
        OTEL_BSP_SCHEDULE_DELAY="100",  # export every 100 ms instead of 5 s
    )
    try:
        trace_id = secrets.token_hex(16)
        traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
        base = f"http://127.0.0.1:{service.http_port}"
        # A query string may carry personal data (a CPF): spans keep the path only.
        response = httpx.get(
            f"{base}/api/probe",
            params={"national_id": "12345678909"},
            headers={"traceparent": traceparent},
        )
        assert response.json() == {"value": 42}
        httpx.get(f"{base}/health").raise_for_status()

        def spans_of_the_trace() -> list[ReceivedSpan]:
            spans = [s for s in receiver.spans if s.trace_id == trace_id]
            has_sql = any("SELECT 41 + 1" in " ".join(s.attributes.values()) for s in spans)
            return spans if has_sql and any("/api/probe" in s.name for s in spans) else []

        spans = wait_for(spans_of_the_trace, timeout=20, interval=0.2, what="the probe's spans")
    finally:
        service.stop()
    assert {s.service for s in spans} == {"telemetry-probe"}
    assert not [s for s in spans if "12345678909" in " ".join(s.attributes.values())]
    assert any(s.attributes.get("http.url", "").endswith("/api/probe") for s in spans)
    assert set(receiver.paths) == {"/v1/traces"}
    # Health checks and scrapes come every few seconds: they make no spans.
    assert not [s for s in receiver.spans if "/health" in s.name]


def loaded_modules(**env: str) -> set[str]:
    """The tracing modules a process has loaded once the probe app is built."""
    code = (
        "import sys\n"
        "from tests.servicekit.integration.traced_app import create_app\n"
        "create_app()\n"
        "print('\\n'.join(m for m in sys.modules if m.startswith(("
        "'opentelemetry.sdk', 'opentelemetry.exporter', 'opentelemetry.instrumentation'))))\n"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    shown = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**base, "TEST_DB_URL": "postgresql+psycopg2://nobody@127.0.0.1:1/none", **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return set(shown.stdout.split())


def test_without_an_endpoint_no_tracing_code_is_loaded() -> None:
    assert loaded_modules() == set()
    # The same check sees them when tracing is on: it would notice them.
    assert loaded_modules(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318")
