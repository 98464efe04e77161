"""The Annotated dependencies routes use: the runtime, a session, the verified caller.

Dependencies that do no blocking work are ``async def``: FastAPI runs a plain ``def`` dependency
in the thread pool, and each such hop cost more CPU than the work itself.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
import weakref
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from servicekit.db import Database
from servicekit.runtime import ServiceRuntime
from servicekit.tokens import InvalidToken, KeysUnavailable, Principal, bearer_token

# Dependencies that do no blocking work are ``async def``: FastAPI runs a plain ``def``
# dependency in the thread pool, and each such hop cost more CPU than the work itself.


async def get_runtime(request: Request) -> ServiceRuntime:
    """The service runtime built by the lifespan."""
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[ServiceRuntime, Depends(get_runtime)]


class _RequestSlots:
    """At most as many requests holding or awaiting a session as the pool has connections
    (and at most half the request threads).

    A sync route runs in the request thread pool, and so do FastAPI's hops after it (response
    validation) and the close that hands its connection back. Unbounded, a burst filled every
    thread with requests blocked on an empty pool; the finished ones could not take their
    next hop to return their connection, and everyone waited out ``pool_timeout`` into a
    500. The extra requests wait here instead, in the event loop, holding no thread, and after
    ``pool_timeout`` get a 503 with Retry-After.
    """

    def __init__(self) -> None:
        self._slots: weakref.WeakKeyDictionary[Database, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def of(self, database: Database) -> asyncio.Semaphore:
        """The semaphore of one database (made on first use, inside the running loop)."""
        slots = self._slots.get(database)
        if slots is None:
            # At most half the request threads, whatever the pool's size: the other half keep
            # the hops after a route and the routes without a database moving.
            threads = int(anyio.to_thread.current_default_thread_limiter().total_tokens)
            slots = asyncio.Semaphore(max(1, min(database.max_connections, threads // 2)))
            self._slots[database] = slots
        return slots


_request_slots = _RequestSlots()


@functools.cache
def _closer() -> ThreadPoolExecutor:
    """Threads of their own for closing sessions that hold a connection, so that a close
    never queues behind requests in the request thread pool (a rollback: a few keep up)."""
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="session-close")


async def get_session(runtime: RuntimeDep) -> AsyncIterator[Session]:
    """A session for one request; the application layer opens (and commits) the transaction.

    Creating a session touches no connection. Closing one that still holds a connection rolls
    back over the network, so only then does the close go to a thread (see ``_closer``).
    """
    database = runtime.database
    slots = _request_slots.of(database)
    try:
        await asyncio.wait_for(slots.acquire(), timeout=database.pool_timeout)
    except TimeoutError:
        raise HTTPException(
            status_code=503,
            detail="the service is busy: no database connection came free in time",
            headers={"Retry-After": "1"},
        ) from None
    session = database.sessions()
    try:
        yield session
    finally:
        try:
            if session.in_transaction():
                await asyncio.get_running_loop().run_in_executor(_closer(), session.close)
            else:
                session.close()
        finally:
            slots.release()


SessionDep = Annotated[Session, Depends(get_session)]


# Declares the bearer scheme in the OpenAPI document; the token itself is read below, so that
# a malformed Authorization header gets our 401 rather than the scheme's 403.
_BEARER = HTTPBearer(auto_error=False, description="access_token from POST /api/auth/login")


async def get_principal(
    request: Request,
    runtime: RuntimeDep,
    _: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)],
) -> Principal:
    """The verified caller, or 401. Identity never comes from client-set headers."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise HTTPException(
            401, "missing bearer token", headers={"WWW-Authenticate": 'Bearer realm="api"'}
        )
    try:
        return await runtime.verifier.verify(token)
    except InvalidToken as exc:
        raise HTTPException(
            401, str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        ) from exc
    except KeysUnavailable as exc:
        raise HTTPException(
            503, str(exc), headers={"Retry-After": str(exc.retry_after_seconds)}
        ) from exc


CurrentUser = Annotated[Principal, Depends(get_principal)]


async def get_admin(principal: CurrentUser) -> Principal:
    """The caller, if an admin; 403 otherwise."""
    if not principal.is_admin:
        raise HTTPException(403, "admin role required")
    return principal


AdminUser = Annotated[Principal, Depends(get_admin)]


async def get_staff(principal: CurrentUser) -> Principal:
    """The caller, if staff or an admin; 403 otherwise."""
    if not principal.is_staff:
        raise HTTPException(403, "staff or admin role required")
    return principal


StaffUser = Annotated[Principal, Depends(get_staff)]


async def correlation_id(request: Request) -> str:
    """The request's correlation id (set by RequestContextMiddleware)."""
    return str(getattr(request.state, "correlation_id", "")) or uuid.uuid4().hex


CorrelationId = Annotated[str, Depends(correlation_id)]
