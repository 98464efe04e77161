"""Metrics end to end: every process exposes its metric families, the local Prometheus scrapes
every one of them, and after `make demo` every query of every dashboard panel returns data."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

from devstack import layout
from devstack import prometheus as local_prometheus
from gateway.routes import DEFAULT_ROUTES
from tests.support import REPO, wait_for

pytestmark = pytest.mark.e2e

DASHBOARDS = sorted((REPO / "observability" / "grafana" / "dashboards").glob("*.json"))
EUREKA_APPS = sorted({*DEFAULT_ROUTES.values(), "GATEWAY"})
HTTP = ("http_requests_total", "http_request_duration_seconds", "eureka_registered")
INBOX = (
    "inbox_events_processed_total",
    "inbox_duplicates_skipped_total",
    "inbox_retries_total",
    "inbox_dead_letters_total",
)
SAGA = ("saga_outcomes_total", "saga_duration_seconds", "saga_compensations_total")
SAGAS_IN_FLIGHT = ("sagas_in_flight", "saga_oldest_in_flight_age_seconds")
GATEWAY = (
    "gateway_requests_total",
    "gateway_request_duration_seconds",
    "gateway_upstream_duration_seconds",
    "gateway_upstream_errors_total",
    "gateway_upstream_instances",
    "eureka_registered",
)
RELAY = (
    "outbox_relay_events_published_total",
    "outbox_relay_publish_failures_total",
    "outbox_relay_is_leader",
    "outbox_backlog_events",
    "outbox_oldest_unpublished_age_seconds",
    "outbox_relay_rows_deleted_total",
    # Consumer lag, read from Kafka on the scrape (outbox_relay/consumer_lag.py).
    "kafka_consumer_group_lag_messages",
    "kafka_consumer_group_committed_offset",
    "kafka_topic_partition_end_offset",
    "kafka_consumer_lag_collection_failures_total",
)
# The broker's JMX exporter agent (infra/kafka/jmx-exporter.yml), the PostgreSQL exporter,
# Alertmanager and the provider stand-ins.
KAFKA = (
    "kafka_server_brokertopicmetrics_messagesin_total",
    "kafka_server_replicamanager_underreplicatedpartitions",
    "kafka_controller_kafkacontroller_activecontrollercount",
    "kafka_controller_kafkacontroller_offlinepartitionscount",
    "kafka_network_request_total_time_seconds",
    "kafka_server_request_handler_idle_ratio",
    "jvm_memory_used_bytes",
)
POSTGRES = ("pg_up", "pg_stat_database_xact_commit", "pg_stat_activity_count", "pg_locks_count")
ALERTMANAGER = ("alertmanager_notifications_total", "alertmanager_alerts")
PROVIDER = ("provider_charges_total", "http_requests_total")
SMS_SINK = ("sms_sink_messages_accepted_total", "sms_sink_duplicates_total")
CONSUMES = {"user_service", "product_service", "order_service", "payment_service"}
CONSUMES |= {"notification_service"}
# process -> (port, the metric families it must declare on /metrics)
EXPECTED: dict[str, tuple[int, tuple[str, ...]]] = {
    **{
        s.package: (
            s.port,
            HTTP
            + (INBOX if s.package in CONSUMES else ())
            + (SAGA + SAGAS_IN_FLIGHT if s.package == "order_service" else ()),
        )
        for s in layout.SERVICES
    },
    "gateway": (layout.GATEWAY_PORT, GATEWAY),
    "outbox_relay": (layout.RELAY_HTTP_PORT, RELAY),
    "kafka": (layout.KAFKA_JMX_EXPORTER_PORT, KAFKA),
    "postgres_exporter": (layout.POSTGRES_EXPORTER_PORT, POSTGRES),
    "alertmanager": (layout.ALERTMANAGER_PORT, ALERTMANAGER),
    "payment_provider": (layout.PAYMENT_PROVIDER_PORT, PROVIDER),
    "sms_sink": (layout.SMS_SINK_PORT, SMS_SINK),
}
# Every Prometheus job of the local config with a static target: (job, app label).
STATIC_TARGETS = {
    ("outbox_relay", "OUTBOX-RELAY"),
    ("eureka", "EUREKA"),
    ("kafka", "KAFKA"),
    ("postgres", "POSTGRES"),
    ("alertmanager", "ALERTMANAGER"),
    ("payment_provider", "PAYMENT-PROVIDER"),
    ("sms_sink", "SMS-SINK"),
}
# Grafana's own variables, and a sensible value for each of ours.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "10m", "$__interval": "15s"}
SERVICES = [service.package.replace("_", "-") for service in layout.SERVICES]
# Words of PromQL that are not metric names.
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset"}
PROMQL_WORDS |= {"and", "or", "unless", "bool", "inf", "nan"}


def declared_families(port: int) -> set[str]:
    """The metric families a process declares (its ``# TYPE`` lines) on /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return set(re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE))


def prometheus_api(path: str, **params: str) -> Any:
    """GET one endpoint of the local Prometheus's HTTP API; its ``data``."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    url = f"{local_prometheus.URL}/api/v1/{path}{query}"
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - local URL
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return body["data"]


def instant(expr: str) -> list[dict[str, Any]]:
    """The series an instant query returns now."""
    try:
        return list(prometheus_api("query", query=expr)["result"])
    except urllib.error.HTTPError as exc:  # a query Prometheus rejects fails the test here
        raise AssertionError(f"Prometheus rejected {expr!r}: {exc.read().decode()}") from exc


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords, labels removed)."""
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # string literals
    stripped = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", stripped)  # matchers, ranges
    stripped = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", " ", stripped)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", stripped):
        following = stripped[match.end() :].lstrip()
        if match.group() not in PROMQL_WORDS and not following.startswith("("):
            names.add(match.group())
    return names


def family_of(name: str) -> str:
    """A histogram's family name for one of its series names."""
    return re.sub(r"_(bucket|sum|count)$", "", name)


def is_known(name: str, known: set[str]) -> bool:
    """True when Prometheus knows the series name: as a family itself (a gauge may end in
    _count), as a histogram's series, or as a counter whose family an OpenMetrics exporter
    (the JMX exporter agent) names without _total."""
    return bool({name, family_of(name), name.removesuffix("_total")} & known)


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) for every Prometheus query of every dashboard panel, with template
    variables substituted; a query using $service once per service."""
    queries = []
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                datasource = target.get("datasource") or panel["datasource"]
                if datasource["type"] != "prometheus":
                    continue  # Loki (logs) panels: Loki does not run without Docker
                expr = target["expr"]
                for variable, value in GRAFANA_VARIABLES.items():
                    expr = expr.replace(variable, value)
                where = f"{path.name} / {panel['title']} / {target['refId']}"
                if "$service" in expr:
                    queries += [(f"{where} [{s}]", expr.replace("$service", s)) for s in SERVICES]
                else:
                    queries.append((where, expr))
                assert "$" not in expr.replace("$service", ""), f"{where}: unknown variable"
    return queries


@pytest.fixture(scope="module")
def prometheus() -> None:
    """The local Prometheus `make up` starts."""
    if not local_prometheus.is_ready():
        pytest.fail(f"Prometheus does not answer at {local_prometheus.URL}: run `make test`")


@pytest.mark.parametrize("process", sorted(EXPECTED))
def test_every_process_exposes_its_metric_families(process: str) -> None:
    port, families = EXPECTED[process]
    declared = declared_families(port)
    assert sorted(set(families) - declared) == [], f"{process} on :{port} lacks these"


def test_prometheus_scrapes_every_process_and_every_target_is_up(prometheus: None) -> None:
    wanted = {("services", app) for app in EUREKA_APPS} | STATIC_TARGETS

    def all_up() -> bool:
        series = instant("up")
        found = {(s["metric"]["job"], s["metric"].get("app")) for s in series}
        # Every target up: an instance a test stopped drops out once its Eureka lease expires.
        return wanted <= found and all(s["value"][1] == "1" for s in series)

    try:
        wait_for(all_up, timeout=90, interval=1, what="every Prometheus target up")
    except AssertionError:
        down = [
            (t["labels"].get("job"), t["labels"].get("app"), t["scrapeUrl"], t["lastError"])
            for t in prometheus_api("targets", state="active")["activeTargets"]
            if t["health"] != "up"
        ]
        found = {(s["metric"]["job"], s["metric"].get("app")) for s in instant("up")}
        raise AssertionError(f"missing: {sorted(wanted - found)}; not up: {down}") from None


def test_every_dashboard_query_returns_data_after_the_demo(prometheus: None) -> None:
    queries = dashboard_queries()
    assert queries, "no Prometheus query in any dashboard"
    demo = subprocess.run(
        [sys.executable, "-m", "devstack.demo"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert demo.returncode == 0, f"make demo failed:\n{demo.stdout[-3000:]}{demo.stderr[-3000:]}"

    # `or on() vector(0)` keeps an error panel at 0 instead of "No data", so each query must
    # also name only metric families Prometheus knows: a misspelt name cannot hide behind it.
    known = {"up", *prometheus_api("metadata")}  # up: made by Prometheus, not scraped
    for where, expr in queries:
        unknown = {name for name in metric_names(expr) if not is_known(name, known)}
        assert not unknown, f"{where}: no such metric {sorted(unknown)} in {expr}"

    empty: list[str] = []

    def every_query_has_data() -> bool:
        empty[:] = [f"{where}: {expr}" for where, expr in queries if not instant(expr)]
        return not empty

    try:
        # The demo's counters reach Prometheus with the next scrapes (every 15 s); a rate needs
        # two samples of a series.
        wait_for(every_query_has_data, timeout=120, interval=2, what="dashboard data")
    except AssertionError:
        raise AssertionError("queries without data:\n" + "\n".join(empty)) from None


def test_the_alert_rules_are_loaded_and_evaluate(prometheus: None) -> None:
    def rules() -> dict[str, str]:
        groups = prometheus_api("rules")["groups"]
        return {rule["name"]: rule["health"] for group in groups for rule in group["rules"]}

    for name in ("OutboxRelayLagging", "DeadLettersWritten", "SagasStuck"):
        assert name in rules()
    assert "ServiceMissingFromEureka" in rules()
    wait_for(
        lambda: set(rules().values()) == {"ok"}, timeout=60, interval=1, what="rules evaluated"
    )


def test_the_exporters_reach_what_they_export(prometheus: None) -> None:
    """Up is not enough: the PostgreSQL exporter must log in as its monitoring role, the JMX
    agent must see a broker with its controller, the relay must read consumer lag."""
    checks = {
        "max(pg_up)": 1.0,
        'sum(kafka_controller_kafkacontroller_activecontrollercount{job="kafka"})': 1.0,
        'count(kafka_consumer_group_committed_offset{group="order-service"}) > bool 0': 1.0,
    }

    def all_hold() -> bool:
        for expr, value in checks.items():
            series = instant(expr)
            if not series or float(series[0]["value"][1]) != value:
                return False
        return True

    wait_for(all_hold, timeout=60, interval=2, what=f"exporters reporting {sorted(checks)}")


def test_prometheus_sends_alerts_to_the_local_alertmanager(prometheus: None) -> None:
    active = prometheus_api("alertmanagers")["activeAlertmanagers"]
    assert [a["url"] for a in active] == [
        f"http://127.0.0.1:{layout.ALERTMANAGER_PORT}/api/v2/alerts"
    ]

    def watchdog_reached_alertmanager() -> bool:
        url = f"http://127.0.0.1:{layout.ALERTMANAGER_PORT}/api/v2/alerts?active=true"
        with urllib.request.urlopen(url, timeout=5) as response:
            alerts = json.loads(response.read())
        return any(alert["labels"].get("alertname") == "Watchdog" for alert in alerts)

    # The Watchdog rule always fires; Prometheus re-sends firing alerts every minute at most.
    wait_for(watchdog_reached_alertmanager, timeout=90, interval=2, what="Watchdog in Alertmanager")
