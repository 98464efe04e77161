"""The local Prometheus runs without its lifecycle and admin APIs (anyone reaching its port could
otherwise stop it, reload it or delete its data), and still finds the services in the registry,
whose credentials it reads from a file rather than from its config."""

from __future__ import annotations

import httpx
import pytest

from devstack import layout, prometheus
from tests.support import wait_for

URL = prometheus.URL
GATEWAY_AND_SERVICES = {"GATEWAY", *(s.package.replace("_", "-").upper() for s in layout.SERVICES)}


@pytest.fixture(scope="module", autouse=True)
def prometheus_runs() -> None:
    if not prometheus.is_ready():
        pytest.fail("Prometheus not running: run `make up` first")


def test_the_lifecycle_and_admin_apis_are_refused() -> None:
    for path in ("/-/quit", "/-/reload"):
        response = httpx.post(f"{URL}{path}", timeout=5)
        assert response.status_code == 403, (path, response.status_code, response.text)
    deleted = httpx.post(
        f"{URL}/api/v1/admin/tsdb/delete_series", params={"match[]": "up"}, timeout=5
    )
    assert deleted.is_error, deleted.text
    assert "admin APIs disabled" in deleted.text
    # Still up and serving after all of that.
    assert prometheus.is_ready()
    up = httpx.get(f"{URL}/api/v1/query", params={"query": "up"}, timeout=5).json()
    assert up["status"] == "success" and up["data"]["result"]


def test_devstack_starts_it_without_those_flags() -> None:
    command = prometheus.command()
    assert "--web.enable-lifecycle" not in command
    assert "--web.enable-admin-api" not in command


def test_it_discovers_every_service_through_the_registry_with_its_credentials() -> None:
    def discovered() -> set[str]:
        targets = httpx.get(f"{URL}/api/v1/targets", params={"state": "active"}, timeout=5)
        return {
            target["labels"].get("app", "")
            for target in targets.json()["data"]["activeTargets"]
            if target["labels"]["job"] == "services"
        }

    wait_for(lambda: discovered() >= GATEWAY_AND_SERVICES, timeout=30, what="every app found")
    # The password lives in its own file, readable by its owner only, not in the config.
    config = prometheus.CONFIG.read_text()
    assert layout.EUREKA_PASSWORD not in config
    assert f"password_file: {prometheus.EUREKA_PASSWORD_FILE}" in config
    assert prometheus.EUREKA_PASSWORD_FILE.stat().st_mode & 0o077 == 0
