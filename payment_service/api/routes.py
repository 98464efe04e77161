"""Payments endpoints: reads, each one call to views.py, and the payment provider's webhooks,
one call to the webhook inbox (application/webhooks.py)."""

from __future__ import annotations

import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from contracts.webhooks import SIGNATURE_HEADER
from payment_service import views
from payment_service.api.schemas import Payment, WebhookAccepted
from payment_service.application.webhooks import WebhookInbox
from servicekit.api import Limit
from servicekit.dependencies import CurrentUser, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/payments", tags=["payments"])


@router.get("")
def list_payments(
    user: CurrentUser,
    session: SessionDep,
    order_id: Annotated[uuid.UUID | None, Query()] = None,
    limit: Limit = 100,
) -> list[Payment]:
    """The caller's payments, newest first (every payment for an admin); a bare JSON list.

    Another customer's order simply yields an empty list: nothing tells whether it exists.
    """
    found = views.list_payments(
        session, user, order_id=str(order_id) if order_id is not None else None, limit=limit
    )
    return [Payment.model_validate(payment) for payment in found]


@router.post(
    "/webhooks/provider",
    responses={401: {"description": "missing, wrong or stale signature: nothing changed"}},
)
async def provider_webhook(
    request: Request,
    runtime: RuntimeDep,
    # "t=<seconds>,v1=<64 hex>", one v1 per secret in a rotation (512 leaves room), printable ASCII.
    signature: Annotated[
        str | None, Header(alias=SIGNATURE_HEADER, max_length=512, pattern=r"^[\x20-\x7e]*$")
    ] = None,
) -> WebhookAccepted:
    """A webhook of the payment provider (no bearer token: the signature is the credential).
    200 once applied, and for one seen before (nothing changes again)."""
    inbox: WebhookInbox = runtime.extras["webhooks"]
    body = await _bounded_body(request, inbox.max_bytes)
    outcome = await run_in_threadpool(inbox.accept, body, signature, time.time())
    return WebhookAccepted(outcome=outcome)


async def _bounded_body(request: Request, limit: int) -> bytes:
    """The raw body (the signature covers its exact bytes), at most ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"a webhook body is at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
