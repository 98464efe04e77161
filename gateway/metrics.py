"""The gateway's Prometheus metrics. Labels are bounded: route prefixes and app names come from
the route table, never from the request path."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from prometheus_client import Counter, Gauge, Histogram

M = TypeVar("M", Counter, Histogram)

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    15,
)

REQUESTS = Counter(
    "gateway_requests_total",
    "Requests answered by the gateway, by route prefix and status.",
    ["route", "status"],
)
REQUEST_DURATION = Histogram(
    "gateway_request_duration_seconds",
    "Time from request to response start, gateway work included, by route prefix.",
    ["route"],
    buckets=LATENCY_BUCKETS,
)
UPSTREAM_DURATION = Histogram(
    "gateway_upstream_duration_seconds",
    "Time from sending to an upstream instance until its response headers, by service.",
    ["service"],
    buckets=LATENCY_BUCKETS,
)
UPSTREAM_ERRORS = Counter(
    "gateway_upstream_errors_total",
    "Failed upstream attempts by service and kind (connect, timeout, protocol, pool).",
    ["service", "kind"],
)
UPSTREAM_INSTANCES = Gauge(
    "gateway_upstream_instances",
    "UP instances the gateway knows from Eureka, by service.",
    ["service"],
)
TOKEN_REJECTIONS = Counter(
    "gateway_token_rejections_total",
    "Requests refused with 401 by the gateway's token check.",
)
LIMIT_REFUSALS = Counter(
    "gateway_limit_refusals_total",
    "Requests and connections refused by the gateway's client limits (gateway.limits), by "
    "reason: header_size, body_size, header_timeout, body_timeout, client_connections, method.",
    ["reason"],
)

UNMATCHED = "<unmatched>"


def _children(metric: M) -> Callable[..., M]:
    """``metric.labels`` with the children remembered: prometheus_client's own lookup (a lock
    and a tuple per call) costs more than the update itself, and label values repeat."""
    cache: dict[tuple[str, ...], M] = {}

    def child(*values: str) -> M:
        found = cache.get(values)
        if found is None:
            found = cache[values] = metric.labels(*values)
        return found

    return child


# The hot path's handles on the metrics above: requests(route, status), ...
requests = _children(REQUESTS)
request_duration = _children(REQUEST_DURATION)
upstream_duration = _children(UPSTREAM_DURATION)
