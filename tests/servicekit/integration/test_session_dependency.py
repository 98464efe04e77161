"""The request session under load: when every request thread waits for a pooled connection,
the requests that are done still hand theirs back (their close does not queue behind the
waiters), so everyone is served instead of timing out with 500s."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

import anyio.to_thread
import httpx
import pytest
from fastapi import FastAPI

from servicekit.db import Database, sql
from servicekit.dependencies import SessionDep, get_runtime
from tests.support import sqlalchemy_url

pytestmark = pytest.mark.integration


def test_requests_waiting_for_a_connection_do_not_hold_up_the_ones_handing_it_back(
    scratch_db: str,
) -> None:
    # One connection, two request threads: each request reads in a transaction it leaves open,
    # so its connection comes back only when the dependency closes the session.
    database = Database(sqlalchemy_url(scratch_db), pool_size=1, max_overflow=0, pool_timeout=3)
    app = FastAPI()

    async def runtime() -> SimpleNamespace:
        return SimpleNamespace(database=database)

    app.dependency_overrides[get_runtime] = runtime

    @app.get("/read")
    def read(session: SessionDep) -> int:
        value: int = sql(session, "SELECT 1").scalar_one()
        return value

    async def burst() -> list[int]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 2
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answers = await asyncio.gather(*(client.get("/read") for _ in range(12)))
        return [answer.status_code for answer in answers]

    try:
        assert asyncio.run(burst()) == [200] * 12
    finally:
        database.dispose()


def test_a_request_that_finds_no_connection_in_time_is_told_to_come_back(scratch_db: str) -> None:
    """A 503 with Retry-After, not a 500, when the pool stays busy past its timeout."""
    database = Database(sqlalchemy_url(scratch_db), pool_size=1, max_overflow=0, pool_timeout=0.2)
    app = FastAPI()
    holding = threading.Event()
    release = threading.Event()

    async def runtime() -> SimpleNamespace:
        return SimpleNamespace(database=database)

    app.dependency_overrides[get_runtime] = runtime

    @app.get("/hold")
    def hold(session: SessionDep) -> int:
        value: int = sql(session, "SELECT 1").scalar_one()
        holding.set()
        release.wait(timeout=30)
        return value

    async def one_held_one_refused() -> tuple[int, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            held = asyncio.ensure_future(client.get("/hold"))
            await asyncio.get_running_loop().run_in_executor(None, holding.wait, 30)
            refused = await client.get("/hold")
            release.set()
            return (await held).status_code, refused

    try:
        held_status, refused = asyncio.run(one_held_one_refused())
        assert held_status == 200
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"
        assert "database connection" in refused.json()["detail"]
    finally:
        release.set()
        database.dispose()
