"""The local Alertmanager (Debian package prometheus-alertmanager): its config rendered from
observability/alertmanager/alertmanager.local.yml into var/alertmanager, its data beside it.

Prometheus sends it every firing rule of observability/prometheus/alerts.yml; it groups them and
mails them to the operators through the local mail sink (var/mail). It listens on loopback only
and runs without clustering: one instance, no gossip port. A changed config is applied with
SIGHUP through the supervisor, as for Prometheus.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from string import Template

from devstack import layout
from devstack.prometheus import reload, write_if_changed

TEMPLATE = layout.REPO / "observability" / "alertmanager" / "alertmanager.local.yml"
HOME = layout.VAR / "alertmanager"
CONFIG = HOME / "alertmanager.yml"
DATA = HOME / "data"
LISTEN = f"127.0.0.1:{layout.ALERTMANAGER_PORT}"
URL = f"http://{LISTEN}"


def render(template: Path = TEMPLATE) -> str:
    """The config text: every alert mailed to the operators through the local mail sink."""
    return Template(template.read_text()).substitute(
        SMTP_SMARTHOST=f"127.0.0.1:{layout.MAILSINK_PORT}"
    )


def write_config() -> None:
    """Write var/alertmanager/alertmanager.yml; a running Alertmanager re-reads it (SIGHUP) when
    it changed."""
    HOME.mkdir(parents=True, exist_ok=True)
    if write_if_changed(CONFIG, render(), mode=0o644):
        reload("alertmanager")


def command() -> str:
    """The supervisor command line (the Debian package's binary, our config and data)."""
    return (
        f"prometheus-alertmanager --config.file={CONFIG} --storage.path={DATA}"
        f" --web.listen-address={LISTEN} --web.external-url={URL} --cluster.listen-address="
    )


def is_ready() -> bool:
    """True when Alertmanager has loaded its config and serves its API."""
    try:
        with urllib.request.urlopen(f"{URL}/-/ready", timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
