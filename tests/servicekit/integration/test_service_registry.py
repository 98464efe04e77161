"""Every service app registers in Eureka; only one that calls other services keeps a copy of
the registry (create_service_app(discovers=True)): the others fetched the whole registry every
two seconds and never read it. Against the real Eureka of the running stack."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from devstack import layout
from servicekit.runtime import ServiceRuntime
from servicekit.service_app import create_service_app
from servicekit.settings import EurekaSettings, HttpServiceSettings
from tests.support import free_port

pytestmark = pytest.mark.integration


def no_keys(_: ServiceRuntime, __: Any) -> Any:
    async def fetch() -> dict[str, Any]:
        return {"keys": []}

    return fetch


def app_of(name: str, *, discovers: bool) -> Any:
    return create_service_app(
        name=name,
        title=name,
        # Nothing here touches the database: the engine connects on first use only.
        settings=HttpServiceSettings(
            database_url="postgresql+psycopg2://nobody@127.0.0.1:9/none", port=free_port()
        ),
        routers=[],
        jwks=no_keys,
        eureka=EurekaSettings(url=layout.EUREKA_URL),
        discovers=discovers,
    )


@pytest.mark.parametrize("discovers", [False, True])
def test_every_app_registers_and_only_one_that_calls_others_keeps_the_registry(
    engines: None, discovers: bool
) -> None:
    name = f"registry-test-{uuid.uuid4().hex[:8]}"
    app = app_of(name, discovers=discovers)
    with TestClient(app):
        runtime: ServiceRuntime = app.state.runtime
        assert runtime.registration is not None and runtime.registration.registered
        if not discovers:
            assert runtime.discovery is None
            return
        assert runtime.discovery is not None and runtime.discovery.last_refresh_ok
        # Its copy holds the platform's services (and itself once the registry says so).
        assert runtime.discovery.instances("ORDER-SERVICE")
