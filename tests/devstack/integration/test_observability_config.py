"""docker-compose.yml and every config it mounts, the Prometheus and Alertmanager configs, alert
rules and Grafana dashboards, checked without Docker (none runs here): they parse, refer to files
and services that exist, pin their images, run what `make up` runs with the same major versions,
and pass promtool and amtool."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from devstack import alertmanager as local_alertmanager
from devstack import cli, layout, topology
from devstack import prometheus as local_prometheus
from gateway.routes import DEFAULT_ROUTES

REPO = Path(__file__).resolve().parents[3]
COMPOSE_FILE = REPO / "docker-compose.yml"
PROMETHEUS_DIR = REPO / "observability" / "prometheus"
DOCKER_PROMETHEUS = PROMETHEUS_DIR / "prometheus.docker.yml"
DASHBOARDS = sorted((REPO / "observability" / "grafana" / "dashboards").glob("*.json"))
DATASOURCES = REPO / "observability" / "grafana" / "provisioning" / "datasources"
# Every Eureka app of the platform: the gateway's upstreams and the gateway itself.
EUREKA_APPS = sorted({*DEFAULT_ROUTES.values(), "GATEWAY"})
ALERTMANAGER_DIR = REPO / "observability" / "alertmanager"
# Containers that run once and exit (the others are long-lived and must have a healthcheck).
ONE_SHOT = {"migrate"}
# `make up`'s programs whose compose service is named otherwise than with dashes for underscores.
COMPOSE_NAME = {"mailsink": "mailpit"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """docker-compose.yml as data."""
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict) and data.get("services"), "docker-compose.yml has no services"
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The compose services by name, each ``extends`` resolved as compose resolves it."""
    raw = dict(compose["services"])
    return {name: _extended(raw, name) for name in raw}


def _extended(raw: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    """One service with what it extends merged in: mappings key by key, volumes by their mount
    point, anything else replaced."""
    own = dict(raw[name])
    base_name = own.pop("extends", None)
    if base_name is None:
        return own
    merged = dict(_extended(raw, base_name if isinstance(base_name, str) else base_name["service"]))
    for key, value in own.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        elif key == "volumes" and key in merged:
            mounts = {str(v).split(":")[1]: v for v in [*merged[key], *value]}
            merged[key] = list(mounts.values())
        else:
            merged[key] = value
    return merged


def compose_default(value: str) -> str:
    """What a ``${NAME:-default}`` value is when NAME is unset (a plain value as it is)."""
    match = re.fullmatch(r"\$\{\w+:-(.*)\}", value)
    return match.group(1) if match else value


def promtool() -> str:
    """The promtool binary (the Debian prometheus package `make up` installs)."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: `make up` installs the Debian prometheus package")
    return path


def run_promtool(*args: str) -> None:
    """Run promtool, failing the test with its output."""
    result = subprocess.run(
        [promtool(), *args], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}{result.stderr}"


def host_of(target: str) -> str:
    """``host`` of a ``host:port`` target."""
    return target.rsplit(":", 1)[0]


def image_is_pinned(image: str) -> bool:
    """True for ``name:tag`` (or a digest) whose tag is not ``latest``."""
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag not in ("", "latest")


# -- compose -------------------------------------------------------------------------------------


def test_every_build_context_and_dockerfile_exists(services: dict[str, dict[str, Any]]) -> None:
    built = {name: spec["build"] for name, spec in services.items() if "build" in spec}
    assert built, "no service is built from this repository"
    for name, spec in built.items():
        build = {"context": spec} if isinstance(spec, str) else spec
        context = REPO / build["context"]
        assert context.is_dir(), f"{name}: build context {context} does not exist"
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"
        # A file the Dockerfile copies by name must be in the context too.
        for line in dockerfile.read_text().splitlines():
            if line.startswith("COPY ") and "--from=" not in line:
                sources = [s for s in line.split()[1:-1] if not s.startswith("--")]
                for source in sources:
                    if source != ".":
                        assert (context / source).exists(), f"{name}: COPY {source}: missing"


def test_every_mounted_file_exists_and_named_volumes_are_declared(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    declared = set(compose.get("volumes") or {})
    for name, spec in services.items():
        for volume in spec.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume["source"]
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name} mounts {source}, which does not exist"
            elif not source.startswith("/"):  # absolute: a host path such as docker.sock
                assert source in declared, f"{name} uses volume {source!r}, not declared"


def test_every_app_of_the_gateway_routes_is_a_compose_service_registered_under_its_name(
    services: dict[str, dict[str, Any]],
) -> None:
    for app in EUREKA_APPS:
        name = app.lower()
        assert name in services, f"{app} (gateway route table) has no compose service {name!r}"
        environment = services[name]["environment"]
        # Others reach it at the address it registers in Eureka: its compose service name.
        assert environment["EUREKA_INSTANCE_HOST"] == name
        assert compose_default(environment["EUREKA_URL"]) == "http://eureka:8761/eureka"
        assert compose_default(environment["KAFKA_BOOTSTRAP_SERVERS"]) == "kafka:9092"


def test_every_service_has_its_own_database_and_listens_beyond_loopback(
    services: dict[str, dict[str, Any]],
) -> None:
    for service in layout.SERVICES:
        spec = services[service.package.replace("_", "-")]
        environment = spec["environment"]
        prefix = service.env_prefix
        url = environment[f"{prefix}_DATABASE_URL"]
        assert urlsplit(url).hostname == "postgres"
        assert urlsplit(url).path == f"/{service.database}"
        assert environment[f"{prefix}_HOST"] == "0.0.0.0"
        assert environment[f"{prefix}_PORT"] == str(service.port)
        assert spec["build"]["args"]["PACKAGE"] == service.package
    relay = services["outbox-relay"]["environment"]
    assert set(json.loads(relay["RELAY_DATABASES"])) == {s.name for s in layout.SERVICES}
    init_sql = (REPO / "deploy" / "postgres" / "create-databases.sql").read_text()
    for service in layout.SERVICES:
        assert f"CREATE DATABASE {service.database};" in init_sql
    notification = services["notification-service"]["environment"]
    assert notification["NOTIFICATION_SMTP_HOST"] == "mailpit"
    assert notification["NOTIFICATION_SMTP_PORT"] == "1025"


def test_every_dependency_is_a_service_and_waits_for_health_where_there_is_one(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, spec in services.items():
        for dependency, condition in (spec.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"
    # Every long-lived container says when it is healthy; only one-shot jobs have no check.
    for name, spec in services.items():
        if name in ONE_SHOT:
            assert "restart" not in spec, f"{name} is a one-shot job: it must not be restarted"
        else:
            assert "healthcheck" in spec, f"{name} has no healthcheck"
            assert spec["healthcheck"]["test"], f"{name}: empty healthcheck"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_every_image_is_pinned_to_a_version(services: dict[str, dict[str, Any]]) -> None:
    for name, spec in services.items():
        assert "image" in spec, f"{name} names no image (a built one gets name:version too)"
        assert image_is_pinned(spec["image"]), f"{name}: image {spec['image']} is not pinned"
    dockerfiles = {REPO / "deploy" / "docker" / "python.Dockerfile"} | {
        REPO / spec["build"]["context"] / spec["build"].get("dockerfile", "Dockerfile")
        for spec in services.values()
        if "build" in spec
    }
    for dockerfile in dockerfiles:
        text = dockerfile.read_text()
        args = dict(re.findall(r"^ARG (\w+)=(\S+)", text, re.MULTILINE))
        stages: set[str] = set()
        for written, stage in re.findall(r"^FROM (\S+)(?: AS (\S+))?", text, re.MULTILINE):
            image = re.sub(r"\$\{(\w+)\}", lambda m, args=args: args[m.group(1)], written)
            if image not in stages:
                assert image_is_pinned(image), f"{dockerfile.name}: FROM {image} is not pinned"
            stages.add(stage)


def test_no_two_services_publish_the_same_host_port(services: dict[str, dict[str, Any]]) -> None:
    published: Counter[str] = Counter()
    for spec in services.values():
        for port in spec.get("ports", []):
            parts = str(port).split(":")
            published[parts[-2] if len(parts) > 1 else parts[0]] += 1
    assert published, "nothing is published"
    assert [port for port, count in published.items() if count > 1] == []
    for port in ("8080", "3000", "8081", "8025", "9090", "9094", "16686", "8761", "8201", "8202"):
        assert published[port] == 1, f"port {port} is not published"


def test_env_example_lists_every_variable_compose_reads() -> None:
    text = COMPOSE_FILE.read_text().replace("$$", "")
    variables = set(re.findall(r"\$\{(\w+)", text))
    env_example = (REPO / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*(\w+)=", env_example, re.MULTILINE))
    assert sorted(variables - listed) == []


# -- Prometheus ----------------------------------------------------------------------------------


def scrape_configs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Scrape configs by job name."""
    return {job["job_name"]: job for job in config["scrape_configs"]}


def test_prometheus_targets_are_compose_services(services: dict[str, dict[str, Any]]) -> None:
    mounted = [v.split(":")[0] for v in services["prometheus"]["volumes"]]
    assert "./observability/prometheus/prometheus.docker.yml" in mounted
    assert "./observability/prometheus/alerts.yml" in mounted
    jobs = scrape_configs(yaml.safe_load(DOCKER_PROMETHEUS.read_text()))
    for job in jobs.values():
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host = host_of(target)
                assert host in services or host == "localhost", f"{target}: not in compose"
        for eureka in job.get("eureka_sd_configs", []):
            assert urlsplit(eureka["server"]).hostname in services


def test_local_and_compose_prometheus_scrape_the_same_jobs_and_every_eureka_app() -> None:
    local = yaml.safe_load(local_prometheus.render())
    docker = yaml.safe_load(DOCKER_PROMETHEUS.read_text())
    assert set(scrape_configs(local)) == set(scrape_configs(docker))
    for config in (local, docker):
        jobs = scrape_configs(config)
        assert jobs["services"]["eureka_sd_configs"], "services are not found through Eureka"
        keep = next(
            rule
            for rule in jobs["services"]["relabel_configs"]
            if rule.get("action") == "keep" and rule["source_labels"] == ["__meta_eureka_app_name"]
        )
        for app in EUREKA_APPS:
            assert re.fullmatch(keep["regex"], app), f"{app} is not scraped"
        assert jobs["eureka"]["metrics_path"] == "/actuator/prometheus"
    local_jobs = scrape_configs(local)
    relay = local_jobs["outbox_relay"]["static_configs"][0]["targets"]
    assert relay == [f"127.0.0.1:{layout.RELAY_HTTP_PORT}"]
    assert local["rule_files"] == [str(local_prometheus.RULES)]


def test_the_ha_topology_has_every_relay_eureka_peer_and_kafka_node_scraped(tmp_path: Path) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(local_prometheus.render(shape=topology.HA))
    run_promtool("check", "config", str(config))
    jobs = scrape_configs(yaml.safe_load(config.read_text()))

    def targets(job: str) -> list[str]:
        return list(jobs[job]["static_configs"][0]["targets"])

    assert targets("outbox_relay") == [f"127.0.0.1:{port}" for port in topology.RELAY_HA_PORTS]
    assert targets("eureka") == [f"{host}:{port}" for host, port in topology.EUREKA_PEERS]
    assert targets("kafka") == [f"127.0.0.1:{node.jmx_port}" for node in topology.NODES]
    assert len(set(targets("kafka"))) == len(topology.NODES) == 3


def test_promtool_accepts_the_local_config(tmp_path: Path) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(local_prometheus.render())
    run_promtool("check", "config", str(config))


def test_promtool_accepts_the_compose_config() -> None:
    run_promtool("check", "config", str(DOCKER_PROMETHEUS))


def test_promtool_accepts_the_alert_rules() -> None:
    run_promtool("check", "rules", str(PROMETHEUS_DIR / "alerts.yml"))


def test_the_alert_rules_fire_on_the_trouble_they_name() -> None:
    run_promtool("test", "rules", str(PROMETHEUS_DIR / "alerts.test.yml"))


def test_alert_rules_cover_relay_lag_dead_letters_stuck_sagas_and_missing_services() -> None:
    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
    assert "outbox_oldest_unpublished_age_seconds" in alerts["OutboxRelayLagging"]["expr"]
    assert "inbox_dead_letters_total" in alerts["DeadLettersWritten"]["expr"]
    assert "saga_oldest_in_flight_age_seconds" in alerts["SagasStuck"]["expr"]
    assert "kafka_consumer_group_lag_messages" in alerts["ConsumerGroupStalled"]["expr"]
    assert "kafka_consumer_group_lag_messages" in alerts["ConsumerLagHigh"]["expr"]
    assert 'up{job="kafka"}' in alerts["KafkaDown"]["expr"]
    assert "pg_up" in alerts["PostgresDown"]["expr"]
    assert alerts["Watchdog"]["expr"] == "vector(1)"
    missing = alerts["ServiceMissingFromEureka"]["expr"]
    for app in EUREKA_APPS:
        assert f'app="{app}"' in missing, f"no alert when {app} is missing from Eureka"


# -- Grafana -------------------------------------------------------------------------------------


def test_grafana_provisioning_matches_the_compose_mounts(
    services: dict[str, dict[str, Any]],
) -> None:
    mounts = dict(v.split(":")[:2] for v in services["grafana"]["volumes"] if v.startswith("."))
    assert mounts["./observability/grafana/dashboards"] == "/etc/grafana/dashboards"
    provider_dir = REPO / "observability" / "grafana" / "provisioning" / "dashboards"
    providers = yaml.safe_load((provider_dir / "dashboards.yml").read_text())["providers"]
    assert [p["options"]["path"] for p in providers] == ["/etc/grafana/dashboards"]
    datasources = yaml.safe_load((DATASOURCES / "datasources.yml").read_text())["datasources"]
    urls = {d["type"]: urlsplit(d["url"]) for d in datasources}
    assert urls["prometheus"].hostname in services
    assert urls["loki"].hostname in services
    alloy = (REPO / "observability" / "alloy" / "config.alloy").read_text()
    assert alloy.count("{") == alloy.count("}")
    assert "http://loki:3100/loki/api/v1/push" in alloy


def test_every_dashboard_parses_and_every_panel_has_a_query() -> None:
    datasources = yaml.safe_load((DATASOURCES / "datasources.yml").read_text())["datasources"]
    uids = {d["uid"] for d in datasources}
    assert len(DASHBOARDS) >= 5
    dashboard_uids = []
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        dashboard_uids.append(dashboard["uid"])
        assert dashboard["panels"], f"{path.name} has no panels"
        for panel in dashboard["panels"]:
            where = f"{path.name}: panel {panel['title']!r}"
            assert panel["targets"], f"{where} has no target"
            assert panel["datasource"]["uid"] in uids, f"{where}: unknown datasource"
            for target in panel["targets"]:
                assert target["expr"].strip(), f"{where}: empty query"
    assert len(set(dashboard_uids)) == len(dashboard_uids), "two dashboards share a uid"


def test_the_logs_dashboard_filters_loki_by_correlation_id() -> None:
    dashboard = json.loads(
        (REPO / "observability/grafana/dashboards/logs-by-correlation-id.json").read_text()
    )
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["correlation_id"]["type"] == "textbox"
    queries = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert '{service=~".+"} | json | correlation_id="$correlation_id"' in queries


# -- parity with `make up` -----------------------------------------------------------------------


def test_compose_runs_every_process_make_up_runs(services: dict[str, dict[str, Any]]) -> None:
    programs = [p.name for p in cli.infra_programs() + cli.app_programs()]
    assert {"postgres_exporter", "alertmanager", "payment_provider", "sms_sink"} <= set(programs)
    missing = [
        name for name in programs if COMPOSE_NAME.get(name, name.replace("_", "-")) not in services
    ]
    assert missing == [], f"make up runs {missing}, docker-compose.yml does not"
    # The web app is built into the gateway's image (the Dockerfile's web stage).
    assert services["gateway"]["build"]["target"] == "gateway"
    assert services["jaeger"]["image"].startswith("jaegertracing/all-in-one:")


def _tag(image: str) -> str:
    return image.rpartition(":")[2].removeprefix("v")


def _local_version(*command: str) -> str:
    """The first dotted version a local binary prints for ``--version``."""
    shown = subprocess.run(
        [*command, "--version"], capture_output=True, text=True, check=False, timeout=30
    )
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", shown.stdout + shown.stderr)
    assert match, f"{command[0]} printed no version"
    return match.group(0)


def test_compose_has_the_major_versions_of_the_local_stack(
    services: dict[str, dict[str, Any]],
) -> None:
    from devstack import postgres as local_postgres

    local_pg_major = local_postgres.server_bin().parts[-2]
    assert _tag(services["postgres"]["image"]).split(".")[0] == local_pg_major
    # Prometheus and Alertmanager are 0.x / 2.x releases whose minors change behaviour: match
    # major.minor, and the exporter's exact release (its metric names changed between them).
    for service, binary in (
        ("prometheus", "prometheus"),
        ("alertmanager", "prometheus-alertmanager"),
    ):
        compose_version = _tag(services[service]["image"]).split(".")[:2]
        assert compose_version == _local_version(binary).split(".")[:2], service
    exporter = _tag(services["postgres-exporter"]["image"])
    assert exporter == _local_version("prometheus-postgres-exporter")


def test_kafka_carries_the_jmx_exporter_like_make_up(services: dict[str, dict[str, Any]]) -> None:
    kafka = services["kafka"]
    dockerfile = (REPO / kafka["build"]["dockerfile"]).read_text()
    agent = re.search(r"-javaagent:(\S+?)=(\d+):(\S+)", kafka["environment"]["KAFKA_OPTS"])
    assert agent, "KAFKA_OPTS attaches no java agent"
    jar, port, rules = agent.groups()
    assert f" {jar}" in dockerfile and f" {rules}" in dockerfile, "agent or rules not in the image"
    assert "COPY infra/kafka/jmx-exporter.yml" in dockerfile  # the rules `make up` uses
    assert "dependency:copy@jmx-agent" in dockerfile  # the agent version infra/kafka/pom.xml pins
    # The healthcheck's own JVM must not start a second agent on the broker's port.
    assert "KAFKA_OPTS= " in kafka["healthcheck"]["test"][1]
    jobs = scrape_configs(yaml.safe_load(DOCKER_PROMETHEUS.read_text()))
    assert jobs["kafka"]["static_configs"][0]["targets"] == [f"kafka:{port}"]
    local = scrape_configs(yaml.safe_load(local_prometheus.render()))
    assert local["kafka"]["static_configs"][0]["targets"] == [
        f"127.0.0.1:{layout.KAFKA_JMX_EXPORTER_PORT}"
    ]


def test_the_postgres_exporter_connects_as_the_monitoring_role(
    services: dict[str, dict[str, Any]],
) -> None:
    dsn = urlsplit(services["postgres-exporter"]["environment"]["DATA_SOURCE_NAME"])
    assert (dsn.hostname, dsn.username, dsn.path) == (
        "postgres",
        layout.MONITORING_ROLE.name,
        "/postgres",
    )
    migrate = services["migrate"]["environment"]
    assert layout.MONITORING_ROLE.password_setting in migrate
    assert "ensure_monitoring_role" in (REPO / "deploy" / "migrate.py").read_text()


def test_services_send_spans_to_jaeger_in_compose(compose: dict[str, Any]) -> None:
    endpoint = compose["x-platform-env"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert endpoint == "${OTEL_EXPORTER_OTLP_ENDPOINT-http://jaeger:4318}"
    assert compose["services"]["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"


# -- Alertmanager --------------------------------------------------------------------------------


def amtool() -> str:
    """The amtool binary (the Debian prometheus-alertmanager package `make up` installs)."""
    path = shutil.which("amtool")
    if path is None:
        pytest.fail("amtool not found: `make up` installs the Debian prometheus-alertmanager")
    return path


def test_amtool_accepts_both_alertmanager_configs(tmp_path: Path) -> None:
    local = tmp_path / "alertmanager.yml"
    local.write_text(local_alertmanager.render())
    for config in (local, ALERTMANAGER_DIR / "alertmanager.docker.yml"):
        result = subprocess.run(
            [amtool(), "check-config", str(config)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert result.returncode == 0, f"{config.name}:\n{result.stdout}{result.stderr}"


def test_both_alertmanagers_mail_the_same_alerts_to_their_mail_sink(
    services: dict[str, dict[str, Any]],
) -> None:
    local = yaml.safe_load(local_alertmanager.render())
    docker = yaml.safe_load((ALERTMANAGER_DIR / "alertmanager.docker.yml").read_text())
    assert local["global"]["smtp_smarthost"] == f"127.0.0.1:{layout.MAILSINK_PORT}"
    assert docker["global"]["smtp_smarthost"] == "mailpit:1025"
    for config in (local, docker):
        assert config["global"]["smtp_require_tls"] is False  # the local sinks speak plain SMTP
        receivers = {r["name"]: r for r in config["receivers"]}
        assert receivers[config["route"]["receiver"]]["email_configs"], "default route mails"
    assert local["route"] == docker["route"]
    assert local["receivers"] == docker["receivers"]
    # Prometheus sends its alerts there, on both paths.
    mounted = {v.split(":")[1] for v in services["alertmanager"]["volumes"] if v.startswith(".")}
    assert "/etc/alertmanager/alertmanager.yml" in mounted
    docker_prometheus = yaml.safe_load(DOCKER_PROMETHEUS.read_text())
    targets = docker_prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == ["alertmanager:9094"]
    assert "--web.listen-address=:9094" in services["alertmanager"]["command"]
    local_prometheus_config = yaml.safe_load(local_prometheus.render())
    local_targets = local_prometheus_config["alerting"]["alertmanagers"][0]["static_configs"]
    assert local_targets[0]["targets"] == [f"127.0.0.1:{layout.ALERTMANAGER_PORT}"]
