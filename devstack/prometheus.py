"""The local Prometheus (Debian package): its config rendered from
observability/prometheus/prometheus.local.yml into var/prometheus, its data beside it.

It runs without the lifecycle and admin APIs (``/-/quit``, ``/-/reload``, deleting series): anyone
who reaches its port could otherwise stop it or wipe its data. A changed config is applied with
SIGHUP through the supervisor instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import urllib.error
import urllib.request
import xmlrpc.client
from pathlib import Path
from string import Template
from urllib.parse import urlsplit

from devstack import layout, supervisor, topology

TEMPLATE = layout.REPO / "observability" / "prometheus" / "prometheus.local.yml"
RULES = layout.REPO / "observability" / "prometheus" / "alerts.yml"
HOME = layout.VAR / "prometheus"
CONFIG = HOME / "prometheus.yml"
# Eureka's password for service discovery, kept out of the config file (which the server shows
# at /config, with secrets hidden anyway).
EUREKA_PASSWORD_FILE = HOME / "eureka-password"
DATA = HOME / "data"
PORT = int(os.environ.get("PROMETHEUS_PORT", "9090"))
LISTEN = f"127.0.0.1:{PORT}"
URL = f"http://{LISTEN}"


def scrape_targets(shape: str) -> dict[str, list[str]]:
    """The static targets of the relay, Eureka and Kafka jobs: one each in the single topology,
    every instance in the HA one (the services come from Eureka either way)."""
    if shape == topology.HA:
        return {
            "RELAY_TARGETS": [f"127.0.0.1:{port}" for port in topology.RELAY_HA_PORTS],
            "EUREKA_TARGETS": [f"{host}:{port}" for host, port in topology.EUREKA_PEERS],
            "KAFKA_JMX_TARGETS": [f"127.0.0.1:{node.jmx_port}" for node in topology.NODES],
        }
    return {
        "RELAY_TARGETS": [f"127.0.0.1:{layout.RELAY_HTTP_PORT}"],
        "EUREKA_TARGETS": [urlsplit(layout.EUREKA_URL).netloc],
        "KAFKA_JMX_TARGETS": [f"127.0.0.1:{layout.KAFKA_JMX_EXPORTER_PORT}"],
    }


def render(template: Path = TEMPLATE, *, rules: Path = RULES, shape: str = topology.SINGLE) -> str:
    """The config text: scrape Eureka's apps, the relay, Eureka, the provider stand-ins and the
    exporters (every instance of the topology), with our alert rules, sending alerts to the local
    Alertmanager. It ends with the rules' digest, so that changed rules change the config and
    `make up` reloads them too."""
    digest = hashlib.sha256(rules.read_bytes()).hexdigest()
    targets = {
        name: ", ".join(f'"{target}"' for target in listed)
        for name, listed in scrape_targets(shape).items()
    }
    return Template(template.read_text() + f"# alert rules sha256 {digest}\n").substitute(
        RULES_FILE=str(rules),
        EUREKA_URL=layout.EUREKA_URL,
        EUREKA_USERNAME=layout.EUREKA_USERNAME,
        EUREKA_PASSWORD_FILE=str(EUREKA_PASSWORD_FILE),
        **targets,
        PAYMENT_PROVIDER_TARGET=f"127.0.0.1:{layout.PAYMENT_PROVIDER_PORT}",
        SMS_SINK_TARGET=f"127.0.0.1:{layout.SMS_SINK_PORT}",
        POSTGRES_EXPORTER_TARGET=f"127.0.0.1:{layout.POSTGRES_EXPORTER_PORT}",
        ALERTMANAGER_TARGET=f"127.0.0.1:{layout.ALERTMANAGER_PORT}",
        PROMETHEUS_TARGET=LISTEN,
    )


def write_config(shape: str = topology.SINGLE) -> None:
    """Write var/prometheus/prometheus.yml for the topology and the password file; a running
    server re-reads them (SIGHUP) when either changed."""
    HOME.mkdir(parents=True, exist_ok=True)
    changed = write_if_changed(EUREKA_PASSWORD_FILE, layout.EUREKA_PASSWORD, mode=0o600)
    changed = write_if_changed(CONFIG, render(shape=shape), mode=0o644) or changed
    if changed:
        reload("prometheus")


def reload(program: str) -> None:
    """Make a running program re-read its config (SIGHUP through the supervisor)."""
    if supervisor.is_running():
        # Not running (or not configured yet) is fine: it reads its files when it starts.
        with contextlib.suppress(xmlrpc.client.Fault):
            supervisor.rpc().signalProcess(program, "HUP")


def write_if_changed(path: Path, text: str, *, mode: int) -> bool:
    """Write ``text`` to ``path`` with ``mode`` unless it already holds it; True if written."""
    if path.exists() and path.read_text() == text:
        return False
    path.touch(mode=mode)
    path.chmod(mode)
    path.write_text(text)
    return True


def command() -> str:
    """The supervisor command line (the Debian package's binary, our config and data)."""
    return (
        f"prometheus --config.file={CONFIG} --storage.tsdb.path={DATA}"
        f" --storage.tsdb.retention.time=7d --web.listen-address={LISTEN}"
    )


def is_ready() -> bool:
    """True when the server has loaded its config and serves queries."""
    try:
        with urllib.request.urlopen(f"{URL}/-/ready", timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
