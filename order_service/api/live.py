"""Live status as Server-Sent Events: ``GET /api/orders/{order_id}/events`` (the order's own
stream, visible as GET /api/orders/{order_id} is) and ``GET /api/orders/events`` (every order's
changes, for staff boards).

An order's stream sends one ``status`` event (``id``: the row's version, ``data``: the order
exactly as GET answers it) at once and after every change, and ends after a final state
(DELIVERED, REJECTED, CANCELLED). Changes committed in quick succession may arrive as one event
carrying the newest state; never an older state after a newer one. A comment line
(``: keepalive``) goes out whenever nothing else did for ORDER_STREAM_HEARTBEAT_SECONDS, so the
gateway's upstream read timeout and proxies never cut an idle stream. Streams are woken by the
database (application/live.py), never by polling; a client that leaves releases its stream at
once. Beyond ORDER_STREAMS_MAX open streams: 503 with Retry-After.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from order_service import views
from order_service.api.schemas import OrderView
from order_service.application.live import OrderStreams, Reader, Snapshot, StreamsFull, Watch
from servicekit.api import Error, errors
from servicekit.dependencies import CurrentUser, RuntimeDep
from servicekit.tokens import Principal

router = APIRouter(prefix="/api/orders", tags=["orders"])

KEEPALIVE = b": keepalive\n\n"
# To a staff board: changes may have been missed (the database was away); reload the list.
RESYNC = b"event: resync\ndata: {}\n\n"
RETRY_AFTER_SECONDS = 5
HEADERS = {
    # Never cached, and never buffered by a proxy in front of the gateway (nginx reads this).
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}
_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-Sent Events: `status` events, each with the order as JSON",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    503: {
        "model": Error,
        "description": "ORDER_STREAMS_MAX streams are open here; try again after Retry-After.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
    },
}


async def get_streams(runtime: RuntimeDep) -> OrderStreams:
    """The live status streams of this instance, wired at start-up (main.py)."""
    streams: OrderStreams = runtime.extras["order_streams"]
    return streams


StreamsDep = Annotated[OrderStreams, Depends(get_streams)]


@router.get("/events", response_class=StreamingResponse, responses={**_STREAM, **errors(403)})
async def every_order_events(user: CurrentUser, streams: StreamsDep) -> StreamingResponse:
    """Staff and admins: a ``status`` event for every change of any order (the staff board's
    live columns); ``resync`` when changes may have been missed. Never ends by itself."""
    if not user.is_staff:
        raise HTTPException(403, "staff or admin role required")
    return _respond(streams, _open(streams, None), first=None)


@router.get(
    "/{order_id}/events", response_class=StreamingResponse, responses={**_STREAM, **errors(404)}
)
async def order_events(
    order_id: UUID, user: CurrentUser, streams: StreamsDep, runtime: RuntimeDep
) -> StreamingResponse:
    """The order's status at once, then after every change, until a final state (DELIVERED,
    REJECTED, CANCELLED); someone else's order is 404."""
    watch = _open(streams, str(order_id))  # before the first read: no change falls between
    try:
        first = await run_in_threadpool(
            _read_visible, runtime.database.sessions, str(order_id), user
        )
    except BaseException:
        streams.close(watch)
        raise
    if first is None:
        streams.close(watch)
        raise HTTPException(404, "order not found")
    return _respond(streams, watch, first=first)


def _open(streams: OrderStreams, order_id: str | None) -> Watch:
    try:
        return streams.open(order_id)
    except StreamsFull as exc:
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        raise HTTPException(503, str(exc), headers=headers) from exc


def _respond(streams: OrderStreams, watch: Watch, *, first: Snapshot | None) -> StreamingResponse:
    return StreamingResponse(
        _events(streams, watch, first),
        media_type="text/event-stream",
        headers=HEADERS,
        # Also when the client left before the first byte (the generator never started).
        background=BackgroundTask(streams.close, watch),
    )


async def _events(
    streams: OrderStreams, watch: Watch, first: Snapshot | None
) -> AsyncIterator[bytes]:
    """The stream's bytes; closing it (the client left, or the end) releases the watch."""
    try:
        last = 0
        if first is not None:
            yield _frame(first)
            if first.final:
                return
            last = first.version
        while not watch.ended:
            pending = await watch.next(streams.heartbeat_seconds)
            if pending is None:
                yield KEEPALIVE
                continue
            if watch.resync:
                watch.resync = False
                yield RESYNC
            for snapshot in pending:
                if watch.order_id is None:
                    yield _frame(snapshot)
                elif snapshot.version > last:
                    yield _frame(snapshot)
                    if snapshot.final:
                        return
                    last = snapshot.version
    finally:
        streams.close(watch)


def _frame(snapshot: Snapshot) -> bytes:
    return b"event: status\nid: %d\ndata: %b\n\n" % (snapshot.version, snapshot.body)


def _snapshot(read: views.OrderRead) -> Snapshot:
    body = OrderView.model_validate(read.view).model_dump_json().encode()
    return Snapshot(read.view["order_id"], read.version, read.final, body)


def _read_visible(
    sessions: sessionmaker[Session], order_id: str, principal: Principal
) -> Snapshot | None:
    with sessions() as session:
        read = views.read_order(session, order_id, principal)
    return _snapshot(read) if read is not None else None


def snapshot_reader(sessions: sessionmaker[Session]) -> Reader:
    """What the change feed reads changed orders with: one statement per batch, blocking."""

    def read(order_ids: list[str]) -> list[Snapshot]:
        with sessions() as session:
            reads = views.orders_by_id(session, order_ids)
        return [_snapshot(read) for read in reads.values()]

    return read
