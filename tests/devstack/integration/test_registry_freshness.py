"""A registration shows in the registry within seconds, even when it races the registry's readers.

Eureka answers ``GET /apps`` from a Guava cache that every register and cancel invalidates. A read
that is building that payload while an instance registers stores it after the invalidation
(google/guava#1881), so the instance stayed out of every client's registry copy until the entry
expired: 180 s by default. The registry now expires its entries after
EUREKA_RESPONSE_CACHE_EXPIRY_SECONDS (2), which bounds that.

Against the real Eureka of the running stack: readers poll ``/apps`` as fast as they can while
pairs of instances register, as two replicas of a service do when they start together. The filler
apps make each payload slower to build, which widens the race the way a busy registry does.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from devstack import layout
from tests.devstack.integration.registry_support import instance_body

EUREKA = layout.EUREKA_URL
CREDENTIALS = (layout.EUREKA_USERNAME, layout.EUREKA_PASSWORD)
JSON = {"Accept": "application/json"}
# About half the pairs lose the race here (with the fix they wait for the 2 s expiry): ten rounds
# fail a registry that keeps such an entry for 180 s all but certainly (it failed at the third).
FILLER_APPS = 100
ROUNDS = 10
READERS = 3
# No heartbeats are sent: the leases must outlast the test.
LEASE_SECONDS = 600
# The cache expiry (2 s) plus a registry copy's refresh and a loaded machine's slack; far below
# the 180 s a stale entry lived before.
VISIBLE_WITHIN = 15.0


def listed(client: httpx.Client, app: str) -> set[str]:
    """Instance ids of ``app`` in the whole-registry payload every registry copy fetches."""
    response = client.get(f"{EUREKA}/apps")
    response.raise_for_status()
    applications = response.json()["applications"]["application"]
    return {i["instanceId"] for a in applications if a["name"] == app for i in a["instance"]}


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(auth=CREDENTIALS, headers=JSON, timeout=10) as client:
        yield client


@pytest.fixture
def registered(client: httpx.Client) -> Iterator[list[tuple[str, str]]]:
    """(app, instance id) of everything the test registers; all cancelled afterwards."""
    instances: list[tuple[str, str]] = []
    try:
        yield instances
    finally:
        for app, instance_id in instances:
            client.delete(f"{EUREKA}/apps/{app}/{instance_id}")


@pytest.fixture
def busy_readers() -> Iterator[None]:
    """Clients reading the whole registry back to back, as many registry copies refreshing."""
    stop = threading.Event()

    def read() -> None:
        with httpx.Client(auth=CREDENTIALS, headers=JSON, timeout=10) as reader:
            while not stop.is_set():
                reader.get(f"{EUREKA}/apps")

    threads = [threading.Thread(target=read, daemon=True) for _ in range(READERS)]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)


def test_instances_registering_together_all_show_within_seconds(
    client: httpx.Client, registered: list[tuple[str, str]], busy_readers: None
) -> None:
    run = uuid.uuid4().hex[:8].upper()
    for index in range(FILLER_APPS):
        app = f"FILLER-{run}-{index}"
        body = instance_body(app, f"{app}-1", lease_seconds=LEASE_SECONDS)
        client.post(f"{EUREKA}/apps/{app}", json=body).raise_for_status()
        registered.append((app, f"{app}-1"))

    late: dict[str, float] = {}
    for index in range(ROUNDS):
        app = f"PAIR-{run}-{index}"
        expected = {f"{app}-a", f"{app}-b"}
        for instance_id in sorted(expected):
            body = instance_body(app, instance_id, lease_seconds=LEASE_SECONDS)
            client.post(f"{EUREKA}/apps/{app}", json=body).raise_for_status()
            registered.append((app, instance_id))
        registered_at = time.monotonic()
        while listed(client, app) != expected:
            waited = time.monotonic() - registered_at
            assert waited < VISIBLE_WITHIN, (
                f"{app}: {sorted(listed(client, app))} listed {waited:.0f} s after "
                f"{sorted(expected)} registered (earlier late pairs: {late})"
            )
            time.sleep(0.05)  # polling the registry from outside: no event to wait on
        if (waited := time.monotonic() - registered_at) > 0.5:
            late[app] = round(waited, 1)
