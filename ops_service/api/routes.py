"""The operators' endpoints, admin only: each one call to the application (application/service.py,
views.py for the replay records). Refusals become statuses in api/errors.py."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request

from ops_service import views
from ops_service.api.schemas import (
    DeadLetterView,
    OrderTraceView,
    Replayed,
    ReplayRequest,
    ReplayView,
)
from ops_service.application.service import OpsService
from servicekit.api import Limit, errors
from servicekit.dependencies import AdminUser, RuntimeDep, SessionDep
from servicekit.tokens import bearer_token

router = APIRouter(prefix="/api/ops", tags=["operators"])


async def get_ops(runtime: RuntimeDep) -> OpsService:
    """The operators' use cases, wired at start-up (main.py)."""
    service: OpsService = runtime.extras["ops"]
    return service


async def caller_token(request: Request, _: AdminUser) -> str:
    """The admin's own bearer token (already verified): the services asked on their behalf
    check it themselves."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None:  # AdminUser verified one: only a broken proxy could get here
        raise HTTPException(401, "missing bearer token")
    return token


OpsDep = Annotated[OpsService, Depends(get_ops)]
AdminToken = Annotated[str, Depends(caller_token)]


@router.get("/orders/{order_id}/trace", responses=errors(403, 404))
async def order_trace(order_id: UUID, token: AdminToken, ops: OpsDep) -> OrderTraceView:
    """The order's correlation id and timeline, every Kafka message of its saga, and every
    inbox entry those messages left (a service that did not answer is listed as such)."""
    return OrderTraceView.of(await ops.trace(str(order_id), token=token))


@router.get("/dlq", responses=errors(403))
def dead_letters(_: AdminUser, ops: OpsDep) -> list[DeadLetterView]:
    """The newest dead letters of every dead-letter topic, by topic, partition and offset."""
    return [DeadLetterView.of(status) for status in ops.dead_letters()]


@router.post("/dlq/replay", status_code=202, responses=errors(403, 404))
def replay_dead_letters(body: ReplayRequest, admin: AdminUser, ops: OpsDep) -> Replayed:
    """Put the topic's waiting dead letters (of these events, or all) back on their original
    topic, each original message once, and record who did it."""
    event_ids = None if body.event_ids is None else [str(e) for e in body.event_ids]
    return Replayed.of(ops.replay(topic=body.topic, event_ids=event_ids, replayed_by=admin.user_id))


@router.get("/dlq/replays", responses=errors(403))
def replays(_: AdminUser, session: SessionDep, limit: Limit = 100) -> list[ReplayView]:
    """The newest replays first."""
    return [ReplayView.model_validate(row) for row in views.list_replays(session, limit=limit)]
