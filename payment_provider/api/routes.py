"""The provider's HTTP API: the merchant's charge endpoints and the payer's bank's pay call."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse

from payment_provider.api.dependencies import ChargesDep, MerchantOnly
from payment_provider.api.schemas import ChargeCreate, ChargeOut, ChargePayment
from payment_provider.domain.model import (
    AmountMismatch,
    ChargeError,
    ChargeNotFound,
    ChargeStateConflict,
    IdempotencyConflict,
)
from servicekit.api import IdempotencyKey
from servicekit.dependencies import SessionDep

router = APIRouter(tags=["charges"])


@router.post(
    "/charges",
    status_code=201,
    dependencies=[MerchantOnly],
    responses={200: {"model": ChargeOut, "description": "the charge this key already created"}},
)
def create_charge(
    body: ChargeCreate,
    key: IdempotencyKey,
    charges: ChargesDep,
    session: SessionDep,
    response: Response,
) -> ChargeOut:
    """A pending pix charge with its QR code; the same Idempotency-Key returns the same charge."""
    charge, created = charges.create(session, body.to_request(), idempotency_key=key)
    if not created:
        response.status_code = 200
    return ChargeOut.of(charge)


@router.get("/charges", dependencies=[MerchantOnly])
def charges_by_reference(
    charges: ChargesDep,
    session: SessionDep,
    reference: Annotated[str, Query(min_length=1, max_length=100)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[ChargeOut]:
    """The charges made with a merchant reference (e.g. an order id), newest first."""
    return [ChargeOut.of(c) for c in charges.by_reference(session, reference, limit=limit)]


@router.get("/charges/{charge_id}", dependencies=[MerchantOnly])
def read_charge(charge_id: uuid.UUID, charges: ChargesDep, session: SessionDep) -> ChargeOut:
    """One charge as it is now."""
    return ChargeOut.of(charges.read(session, charge_id))


@router.post("/charges/{charge_id}/refund", dependencies=[MerchantOnly])
def refund_charge(
    charge_id: uuid.UUID, key: IdempotencyKey, charges: ChargesDep, session: SessionDep
) -> ChargeOut:
    """paid -> refunded, once; a refunded charge is answered as it is; anything else is 409."""
    return ChargeOut.of(charges.refund(session, charge_id, idempotency_key=key))


@router.post("/charges/{charge_id}/cancel", dependencies=[MerchantOnly])
def cancel_charge(charge_id: uuid.UUID, charges: ChargesDep, session: SessionDep) -> ChargeOut:
    """pending -> cancelled (nobody can pay it any more); a cancelled or expired charge is
    answered as it is; a paid one is 409 (refund it instead)."""
    return ChargeOut.of(charges.cancel(session, charge_id))


@router.post("/charges/{charge_id}/pay")
def pay_charge(
    charge_id: uuid.UUID,
    charges: ChargesDep,
    session: SessionDep,
    body: Annotated[ChargePayment | None, Body()] = None,
) -> ChargeOut:
    """What the payer's bank app does: pending -> paid (a paid charge is answered as it is).

    No merchant key: in real life this arrives through the pix network, not from the merchant.
    """
    amount = body.amount if body is not None else None
    return ChargeOut.of(charges.pay(session, charge_id, amount=amount))


_STATUS_OF_ERROR: dict[type[ChargeError], int] = {
    ChargeNotFound: 404,
    ChargeStateConflict: 409,
    AmountMismatch: 422,
    IdempotencyConflict: 422,
}


def install_charge_error_handlers(app: FastAPI) -> None:
    """Domain refusals as ``{"detail": ...}`` with their HTTP status."""

    @app.exception_handler(ChargeError)
    async def charge_error(_: Request, exc: Exception) -> JSONResponse:
        status = next((s for t, s in _STATUS_OF_ERROR.items() if isinstance(exc, t)), 400)
        return JSONResponse({"detail": str(exc)}, status_code=status)
