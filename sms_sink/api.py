"""The sink's HTTP API: what an SMS provider offers a sender, plus a way to read what came in."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from servicekit.api import IdempotencyKey
from servicekit.tokens import bearer_token
from sms_sink.store import IdempotencyConflict, MessageStore, SmsMessage

E164 = r"^\+[1-9][0-9]{1,14}$"
MAX_BODY = 1600  # ten concatenated segments, as large SMS providers allow

MESSAGES_ACCEPTED = Counter("sms_sink_messages_accepted_total", "New messages the sink stored.")
MESSAGES_REPEATED = Counter(
    "sms_sink_duplicates_total", "Repeats of an Idempotency-Key, answered without storing."
)

router = APIRouter()


class MessageIn(BaseModel):
    """POST /messages."""

    model_config = ConfigDict(extra="forbid")

    to: str = Field(pattern=E164, description="E.164, e.g. +5511987654321")
    body: str = Field(min_length=1, max_length=MAX_BODY)


class Accepted(BaseModel):
    """The provider's receipt."""

    message_id: str
    status: str = "accepted"


class MessageOut(BaseModel):
    """A message as the sink received it."""

    message_id: str
    to: str
    body: str
    received_at: datetime

    @classmethod
    def of(cls, message: SmsMessage) -> MessageOut:
        """The listing entry of a stored message."""
        return cls(
            message_id=message.message_id,
            to=message.to,
            body=message.body,
            received_at=message.received_at,
        )


async def get_store(request: Request) -> MessageStore:
    """The message store opened by the lifespan."""
    store: MessageStore = request.app.state.store
    return store


StoreDep = Annotated[MessageStore, Depends(get_store)]


async def require_sender(request: Request) -> None:
    """401 unless the request carries SMS_API_KEY as a bearer token."""
    token = bearer_token(request.headers.get("authorization"))
    expected: str = request.app.state.api_key.get_secret_value()
    if token is None or not hmac.compare_digest(token.encode(), expected.encode()):
        raise HTTPException(
            401,
            "a valid API key is required (Authorization: Bearer <key>)",
            headers={"WWW-Authenticate": 'Bearer realm="sms"'},
        )


@router.post(
    "/messages",
    status_code=201,
    dependencies=[Depends(require_sender)],
    responses={200: {"model": Accepted, "description": "a repeat of an Idempotency-Key"}},
)
def send_message(
    message: MessageIn,
    store: StoreDep,
    response: Response,
    idempotency_key: IdempotencyKey,  # one per message: a repeat is never stored twice
) -> Accepted:
    """Accept a message; the same Idempotency-Key answers the same message_id (200)."""
    try:
        stored, new = store.accept(
            idempotency_key=idempotency_key,
            to=message.to,
            body=message.body,
            now=datetime.now(UTC),
        )
    except IdempotencyConflict as exc:
        raise HTTPException(422, str(exc)) from exc
    if new:
        MESSAGES_ACCEPTED.inc()
    else:
        MESSAGES_REPEATED.inc()
        response.status_code = 200
    return Accepted(message_id=stored.message_id)


@router.get("/messages")
def list_messages(
    store: StoreDep,
    to: Annotated[str | None, Query(pattern=E164)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[MessageOut]:
    """What the sink received (the latest ``limit``, oldest first), optionally to one number."""
    return [MessageOut.of(m) for m in store.messages(to=to, limit=limit)]


@router.get("/health", tags=["operations"])
async def health(store: StoreDep) -> JSONResponse:
    """200 once the store is open."""
    ok = store.is_open
    return JSONResponse({"status": "ok" if ok else "unavailable"}, status_code=200 if ok else 503)


@router.get("/metrics", tags=["operations"])
async def metrics() -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
