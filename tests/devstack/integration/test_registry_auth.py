"""The service registry answers its clients only, and tokens never trust it.

Against the real Eureka of the running stack: every call under /eureka/ without the credentials
(or with a wrong password) gets 401 and changes nothing, while clients with EUREKA_USERNAME /
EUREKA_PASSWORD register, renew, discover and leave; the probes and the metrics stay open. And a
gateway verifies tokens only against the keys at JWKS_URL, never against an AUTH-SERVICE it finds
in the registry.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from devstack import layout
from servicekit.settings import EurekaSettings
from tests.devstack.integration.registry_support import instance_body
from tests.support import ManagedProcess, free_port, wait_for

EUREKA = layout.EUREKA_URL
CREDENTIALS = (layout.EUREKA_USERNAME, layout.EUREKA_PASSWORD)
WRONG = (layout.EUREKA_USERNAME, layout.EUREKA_PASSWORD + "-not")
JSON = {"Accept": "application/json"}


def registered_status(app: str, instance_id: str) -> str | None:
    """The instance's status as the registry holds it; None when it is not there."""
    response = httpx.get(f"{EUREKA}/apps/{app}/{instance_id}", auth=CREDENTIALS, headers=JSON)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return str(response.json()["instance"]["status"])


@pytest.fixture
def app_name() -> str:
    """An app name no other test (or service) uses."""
    return f"REGISTRY-AUTH-{uuid.uuid4().hex[:8].upper()}"


@pytest.fixture(scope="module", autouse=True)
def eureka_runs() -> None:
    try:
        httpx.get(f"{EUREKA.removesuffix('/eureka')}/actuator/health", timeout=3)
    except httpx.HTTPError:
        pytest.fail("Eureka not running: run `make up` first")


def test_anonymous_register_gets_401_and_registers_nothing(app_name: str) -> None:
    body = instance_body(app_name, "rogue-1")
    for auth in (None, WRONG):
        refused = httpx.post(f"{EUREKA}/apps/{app_name}", json=body, auth=auth)
        assert refused.status_code == 401, refused.text
        assert registered_status(app_name, "rogue-1") is None
    # The same body with the credentials registers: the 401 was about who asked, nothing else.
    accepted = httpx.post(f"{EUREKA}/apps/{app_name}", json=body, auth=CREDENTIALS)
    assert accepted.status_code == 204, accepted.text
    try:
        assert registered_status(app_name, "rogue-1") == "UP"
    finally:
        httpx.delete(f"{EUREKA}/apps/{app_name}/rogue-1", auth=CREDENTIALS)


def test_anonymous_cancel_renew_and_status_changes_get_401_and_change_nothing(
    app_name: str,
) -> None:
    instance = f"{app_name.lower()}-1"
    registered = httpx.post(
        f"{EUREKA}/apps/{app_name}", json=instance_body(app_name, instance), auth=CREDENTIALS
    )
    assert registered.status_code == 204, registered.text
    base = f"{EUREKA}/apps/{app_name}/{instance}"
    try:
        for auth in (None, WRONG):
            for method, url in (
                ("DELETE", base),  # cancel: drop a real instance out of routing
                ("PUT", f"{base}?status=UP"),  # renew someone else's lease
                ("PUT", f"{base}/status?value=OUT_OF_SERVICE"),  # take it out of rotation
                ("DELETE", f"{base}/status"),  # clear an override
                ("PUT", f"{base}/metadata?zone=elsewhere"),
            ):
                response = httpx.request(method, url, auth=auth)
                assert response.status_code == 401, (method, url, response.status_code)
        assert registered_status(app_name, instance) == "UP"
        cancelled = httpx.delete(base, auth=CREDENTIALS)
        assert cancelled.status_code == 200, cancelled.text
        assert registered_status(app_name, instance) is None
    finally:
        httpx.delete(base, auth=CREDENTIALS)


def test_reads_and_the_dashboard_need_the_credentials_too() -> None:
    root = EUREKA.removesuffix("/eureka")
    for url in (f"{EUREKA}/apps", f"{EUREKA}/apps/GATEWAY", f"{EUREKA}/apps/delta", f"{root}/"):
        for auth in (None, WRONG):
            response = httpx.get(url, auth=auth, headers=JSON)
            assert response.status_code == 401, (url, response.status_code)
            assert "instance" not in response.text
    listed = httpx.get(f"{EUREKA}/apps", auth=CREDENTIALS, headers=JSON)
    assert listed.status_code == 200
    assert "GATEWAY" in {app["name"] for app in listed.json()["applications"]["application"]}


def test_probes_and_metrics_stay_open_without_credentials() -> None:
    root = EUREKA.removesuffix("/eureka")
    health = httpx.get(f"{root}/actuator/health")
    assert (health.status_code, health.json()["status"]) == (200, "UP")
    metrics = httpx.get(f"{root}/actuator/prometheus")
    assert metrics.status_code == 200
    assert "jvm_memory_used_bytes" in metrics.text
    # Everything else of the actuator is not.
    assert httpx.get(f"{root}/actuator/info").status_code == 401


async def renewed(app: str, instance_id: str) -> bool:
    """True once the registry has taken a heartbeat of the instance (a renewal after the
    registration); polls for at most 10 s without blocking the loop the heartbeats run on."""
    async with httpx.AsyncClient(auth=CREDENTIALS, headers=JSON) as client:
        for _ in range(200):
            response = await client.get(f"{EUREKA}/apps/{app}/{instance_id}")
            lease = response.json()["instance"]["leaseInfo"]
            if lease["lastRenewalTimestamp"] > lease["registrationTimestamp"]:
                return True
            await asyncio.sleep(0.05)
    return False


def test_clients_with_the_credentials_register_renew_discover_and_leave(app_name: str) -> None:
    settings = EurekaSettings(url=EUREKA, renewal_interval_seconds=1.0)

    async def scenario() -> None:
        registration = settings.registration(app_name=app_name, port=9)
        discovery = settings.discovery()
        await registration.start()
        try:
            assert registration.registered
            await discovery.refresh()
            assert discovery.last_refresh_ok
            assert [i.base_url for i in discovery.instances(app_name)] == ["http://127.0.0.1:9"]
            assert await renewed(app_name, registration.instance_id)
            assert registration.registered
        finally:
            await registration.stop()
        await discovery.refresh()
        assert discovery.instances(app_name) == []

    asyncio.run(scenario())


def test_a_client_with_a_wrong_password_is_not_registered(app_name: str) -> None:
    wrong = EurekaSettings(url=EUREKA, password=WRONG[1])

    async def scenario() -> None:
        registration = wrong.registration(app_name=app_name, port=9)
        discovery = wrong.discovery()
        await registration.start()
        try:
            assert not registration.registered
            await discovery.refresh()
            assert not discovery.last_refresh_ok
        finally:
            await registration.stop()

    asyncio.run(scenario())
    assert registered_status(app_name, f"127.0.0.1:{app_name.lower()}:9") is None


# -- tokens are checked against JWKS_URL only ------------------------------------------------------


def admin_token() -> str:
    """An access token of the running auth service (through the running gateway)."""
    response = httpx.post(
        f"http://127.0.0.1:{layout.GATEWAY_PORT}/api/auth/login",
        json={
            "email": os.environ.get("ADMIN_EMAIL", "admin@example.com"),
            "password": os.environ.get("ADMIN_PASSWORD", "Admin-password-1"),
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def start_gateway(jwks_url: str, log_dir: Path) -> ManagedProcess:
    port = free_port()
    gateway = ManagedProcess(
        [sys.executable, "-m", "gateway"],
        {
            "GATEWAY_PORT": str(port),
            "JWKS_URL": jwks_url,
            "EUREKA_URL": EUREKA,
            "EUREKA_ENABLED": "false",  # stays out of the registry the real gateway serves
            "GATEWAY_JWKS_MIN_REFRESH_SECONDS": "0",
        },
        log_dir / f"gateway-{port}.log",
        http_port=port,
    )
    gateway.start()
    wait_for(lambda: (gateway.health() or {}).get("status") == "ok", timeout=30)
    return gateway


def test_the_gateway_never_takes_keys_from_an_auth_service_found_in_eureka(
    tmp_path: Path,
) -> None:
    """The real AUTH-SERVICE is in Eureka and serves the right keys; a gateway told to fetch
    them elsewhere (where nothing answers) must not fall back to it: whatever the registry
    lists, a rogue instance included, can then never supply the keys."""
    token = admin_token()
    headers = {"Authorization": f"Bearer {token}"}
    auth_in_eureka = httpx.get(f"{EUREKA}/apps/AUTH-SERVICE", auth=CREDENTIALS, headers=JSON)
    assert auth_in_eureka.status_code == 200, "the stack's auth service is not registered"
    nowhere = f"http://127.0.0.1:{free_port()}/api/auth/.well-known/jwks.json"
    gateway = start_gateway(nowhere, tmp_path)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{gateway.http_port}", timeout=10) as c:
            refused = c.get("/api/orders", headers=headers)
            assert refused.status_code == 503, refused.text  # keys unavailable, not 200
            assert json.loads(refused.text)  # an error body, not the profile
    finally:
        gateway.stop()
    # The control: the same token through a gateway whose JWKS_URL is the real one.
    gateway = start_gateway(layout.JWKS_URL, tmp_path)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{gateway.http_port}", timeout=10) as c:
            wait_for(
                lambda: c.get("/api/orders", headers=headers).status_code == 200,
                timeout=15,
                what="the gateway with the real JWKS_URL to accept the token",
            )
    finally:
        gateway.stop()
