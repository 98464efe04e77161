"""A service app for the tracing tests, built by create_service_app like every service: one route
that runs SQL. Configured by TEST_DB_URL and TEST_PORT; tracing by OTEL_EXPORTER_OTLP_ENDPOINT."""

from __future__ import annotations

import os

import uvicorn
from fastapi import APIRouter, FastAPI
from sqlalchemy import text

from servicekit.dependencies import RuntimeDep
from servicekit.service_app import create_service_app
from servicekit.settings import EurekaSettings, HttpServiceSettings

router = APIRouter()


@router.get("/api/probe")
def probe(runtime: RuntimeDep) -> dict[str, int]:
    """One SQL statement, so that a trace has a database span under the request's."""
    with runtime.database.engine.connect() as connection:
        value = connection.execute(text("SELECT 41 + 1")).scalar_one()
    return {"value": int(value)}


def create_app() -> FastAPI:
    """The probe service (no Eureka, no consumers)."""
    settings = HttpServiceSettings(
        database_url=os.environ["TEST_DB_URL"], port=int(os.environ.get("TEST_PORT", "0"))
    )
    return create_service_app(
        name="telemetry-probe",
        title="telemetry probe",
        settings=settings,
        routers=[router],
        eureka=EurekaSettings(enabled=False),
    )


if __name__ == "__main__":
    uvicorn.run(
        create_app(), host="127.0.0.1", port=int(os.environ["TEST_PORT"]), log_level="warning"
    )
