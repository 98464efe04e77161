"""Optional tracing: every HTTP request and SQL statement of a service becomes an OpenTelemetry
span exported over OTLP/HTTP, when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (docker compose sends
them to Jaeger). Unset, the default of `make up`, neither the SDK, the exporter nor the
instrumentations are imported, and FastAPI's own tracing is off: a request costs what it did
without them.

Spans continue the W3C ``traceparent`` the gateway passes on, so a trace has the trace id the
JSON logs carry. The SDK reads its other standard variables itself (``OTEL_TRACES_SAMPLER``,
``OTEL_TRACES_SAMPLER_ARG``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_BSP_*``); export happens in
a background thread, in bounded batches, and what is queued is flushed when the process exits.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# /health and /metrics are polled every few seconds: spans of them would drown the real ones.
EXCLUDED_URLS = "/health,/metrics"

# FastAPI (0.165 and later) traces by itself as soon as any tracer provider is configured, and
# otherwise looks for one on every request (4.3 us each, measured). The instrumentation below
# is what we configure (it also leaves /health and /metrics out); FastAPI's own is turned off,
# so that a request without tracing pays 0.1 us for it.
FASTAPI_NATIVE_TELEMETRY_OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


class TelemetrySettings(BaseSettings):
    """The OTLP collector spans go to; empty turns tracing off (standard OTEL_ variable)."""

    model_config = SettingsConfigDict(env_prefix="OTEL_", env_file=".env", extra="ignore")

    # The collector's OTLP/HTTP base address, e.g. http://jaeger:4318 (spans go to /v1/traces).
    exporter_otlp_endpoint: str = ""

    @field_validator("exporter_otlp_endpoint")
    @classmethod
    def _check_endpoint(cls, url: str) -> str:
        scheme, _, rest = url.partition("://")
        if url and (scheme not in ("http", "https") or not rest.strip("/")):
            raise ValueError(
                "OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL, e.g. http://jaeger:4318"
            )
        return url.rstrip("/")


# One tracer provider per process (OpenTelemetry allows one global); several apps of one
# process (tests) share it.
_provider: Any = None


def instrument_app(
    app: FastAPI, *, service_name: str, settings: TelemetrySettings | None = None
) -> bool:
    """Trace ``app``'s requests and the process's psycopg2 statements when an OTLP endpoint is
    configured; True if it did. Call before the app starts (it adds a middleware)."""
    settings = settings or TelemetrySettings()
    if not settings.exporter_otlp_endpoint:
        return False
    # Imported here, so that a service without tracing never loads any of it.
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.psycopg2 import Psycopg2Instrumentor

    provider = _tracer_provider(service_name, settings.exporter_otlp_endpoint)
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls=EXCLUDED_URLS,
        server_request_hook=without_query_string,
    )
    psycopg2 = Psycopg2Instrumentor()
    if not psycopg2.is_instrumented_by_opentelemetry:
        psycopg2.instrument(tracer_provider=provider)
    return True


def without_query_string(span: Any, scope: dict[str, Any]) -> None:
    """A request span keeps the path, never the query string: like the access lines, since a
    query can carry personal data (``GET /api/users?national_id=<CPF>``) or credentials. The
    instrumentation puts it in ``http.url`` (and ``url.query`` under the newer conventions)."""
    if not scope.get("query_string") or not span.is_recording():
        return
    attributes = getattr(span, "attributes", None) or {}
    url = attributes.get("http.url")
    if isinstance(url, str):
        span.set_attribute("http.url", url.split("?", 1)[0])
    if "url.query" in attributes:
        span.set_attribute("url.query", "")


def _tracer_provider(service_name: str, endpoint: str) -> Any:
    global _provider  # noqa: PLW0603 - the process-wide provider, made once
    if _provider is None:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        # Bounded: a queue of at most 2048 spans, sent every 5 s, 10 s per export at most.
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", timeout=10))
        )
        trace.set_tracer_provider(provider)
        _provider = provider
    return _provider
