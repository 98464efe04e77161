"""The local Prometheus (Debian package): its config rendered from
observability/prometheus/prometheus.local.yml into var/prometheus, its data beside it."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path
from string import Template
from urllib.parse import urlsplit

from devstack import layout

TEMPLATE = layout.REPO / "observability" / "prometheus" / "prometheus.local.yml"
RULES = layout.REPO / "observability" / "prometheus" / "alerts.yml"
HOME = layout.VAR / "prometheus"
CONFIG = HOME / "prometheus.yml"
DATA = HOME / "data"
PORT = int(os.environ.get("PROMETHEUS_PORT", "9090"))
LISTEN = f"127.0.0.1:{PORT}"
URL = f"http://{LISTEN}"


def render(template: Path = TEMPLATE, *, rules: Path = RULES) -> str:
    """The config text: scrape Eureka's apps, the relay and Eureka itself, with our alert rules."""
    return Template(template.read_text()).substitute(
        RULES_FILE=str(rules),
        EUREKA_URL=layout.EUREKA_URL,
        EUREKA_TARGET=urlsplit(layout.EUREKA_URL).netloc,
        RELAY_TARGET=f"127.0.0.1:{layout.RELAY_HTTP_PORT}",
        PROMETHEUS_TARGET=LISTEN,
    )


def write_config() -> None:
    """Write var/prometheus/prometheus.yml; a running server reloads it when it changed."""
    HOME.mkdir(parents=True, exist_ok=True)
    text = render()
    if CONFIG.exists() and CONFIG.read_text() == text:
        return
    CONFIG.write_text(text)
    if is_ready():
        reload = urllib.request.Request(f"{URL}/-/reload", method="POST")  # noqa: S310
        with urllib.request.urlopen(reload, timeout=5):  # noqa: S310 - fixed local URL
            pass


def command() -> str:
    """The supervisor command line (the Debian package's binary, our config and data)."""
    return (
        f"prometheus --config.file={CONFIG} --storage.tsdb.path={DATA}"
        f" --storage.tsdb.retention.time=7d --web.listen-address={LISTEN} --web.enable-lifecycle"
    )


def is_ready() -> bool:
    """True when the server has loaded its config and serves queries."""
    try:
        with urllib.request.urlopen(f"{URL}/-/ready", timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
