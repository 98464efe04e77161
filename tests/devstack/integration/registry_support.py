"""What the registry tests send to the real Eureka."""

from __future__ import annotations

from typing import Any


def instance_body(
    app: str, instance_id: str, *, lease_seconds: int | None = None
) -> dict[str, Any]:
    """A complete registration, as Eureka clients send it (port 9, discard: nothing answers).
    ``lease_seconds`` sets how long the registry keeps it without a heartbeat (default 90)."""
    instance: dict[str, Any] = {
        "instanceId": instance_id,
        "app": app,
        "hostName": "127.0.0.1",
        "ipAddr": "127.0.0.1",
        "vipAddress": app.lower(),
        "status": "UP",
        "port": {"$": 9, "@enabled": "true"},
        "dataCenterInfo": {
            "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo",
            "name": "MyOwn",
        },
    }
    if lease_seconds is not None:
        instance["leaseInfo"] = {"renewalIntervalInSecs": 30, "durationInSecs": lease_seconds}
    return {"instance": instance}
