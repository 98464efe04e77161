"""Charges, idempotency keys and the webhook outbox in PostgreSQL (hand-written SQL through
``servicekit.db.sql``). Every function runs in the caller's transaction; none commits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.orm import Session

from payment_provider.domain.model import Charge, ChargeStatus
from servicekit.db import sql

_CHARGE_COLUMNS = (
    "charge_id, status, amount, currency, description, reference, notification_url, txid,"
    " qr_code, qr_code_png, expires_at, created_at, paid_at, expired_at, refunded_at,"
    " cancelled_at"
)
_INSERT_CHARGE_SQL = (
    f"INSERT INTO charges ({_CHARGE_COLUMNS}) VALUES (%(charge_id)s::uuid, %(status)s,"
    " %(amount)s, %(currency)s, %(description)s, %(reference)s, %(notification_url)s, %(txid)s,"
    " %(qr_code)s, %(qr_code_png)s, %(expires_at)s, %(created_at)s, %(paid_at)s,"
    " %(expired_at)s, %(refunded_at)s, %(cancelled_at)s)"
)
_CHARGE_SQL = f"SELECT {_CHARGE_COLUMNS} FROM charges WHERE charge_id = %(charge_id)s::uuid"
_CHARGE_FOR_UPDATE_SQL = f"{_CHARGE_SQL} FOR UPDATE"
_CHARGES_BY_REFERENCE_SQL = (
    f"SELECT {_CHARGE_COLUMNS} FROM charges WHERE reference = %(reference)s"
    " ORDER BY created_at DESC LIMIT %(limit)s"
)
# Another expirer (or a payer) holding a charge is left to it: SKIP LOCKED, never a wait.
_DUE_FOR_EXPIRY_SQL = (
    f"SELECT {_CHARGE_COLUMNS} FROM charges WHERE status = 'pending'"
    " AND expires_at <= %(now)s ORDER BY expires_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED"
)
_SAVE_STATUS_SQL = (
    "UPDATE charges SET status = %(status)s, paid_at = %(paid_at)s, expired_at = %(expired_at)s,"
    " refunded_at = %(refunded_at)s, cancelled_at = %(cancelled_at)s"
    " WHERE charge_id = %(charge_id)s::uuid"
)
_CLAIM_KEY_SQL = (
    "INSERT INTO idempotency_keys (operation, key, request, charge_id, created_at)"
    " VALUES (%(operation)s, %(key)s, %(request)s::jsonb, %(charge_id)s::uuid, %(now)s)"
    " ON CONFLICT (operation, key) DO NOTHING RETURNING charge_id"
)
_KEY_SQL = (
    "SELECT request, charge_id FROM idempotency_keys"
    " WHERE operation = %(operation)s AND key = %(key)s"
)
_INSERT_WEBHOOK_SQL = (
    "INSERT INTO webhook_outbox (webhook_id, charge_id, event_type, url, body, next_attempt_at,"
    " created_at) VALUES (%(webhook_id)s::uuid, %(charge_id)s::uuid, %(event_type)s, %(url)s,"
    " %(body)s, %(now)s, %(now)s)"
)
# One webhook at a time per charge, in the order they were written (a charge.refunded never
# overtakes the charge.paid before it); across charges, any order. Rows another worker is
# sending are skipped, never waited for, and never sent twice at once.
_ELIGIBLE = (
    "w.status = 'pending' AND NOT EXISTS (SELECT 1 FROM webhook_outbox e"
    " WHERE e.charge_id = w.charge_id AND e.status = 'pending' AND e.seq < w.seq)"
)
_CLAIM_WEBHOOK_SQL = (
    "SELECT w.webhook_id, w.charge_id, w.event_type, w.url, w.body, w.attempts, w.created_at"
    f" FROM webhook_outbox w WHERE {_ELIGIBLE} AND w.next_attempt_at <= %(now)s"
    " ORDER BY w.next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED"
)
_NEXT_WEBHOOK_DUE_SQL = (
    f"SELECT min(w.next_attempt_at) FROM webhook_outbox w WHERE {_ELIGIBLE}"
    " AND w.next_attempt_at > %(now)s"
)
_WEBHOOK_ATTEMPTED_SQL = (
    "UPDATE webhook_outbox SET status = %(status)s, attempts = %(attempts)s,"
    " next_attempt_at = %(next_attempt_at)s, last_status = %(last_status)s,"
    " last_error = %(last_error)s, delivered_at = %(delivered_at)s"
    " WHERE webhook_id = %(webhook_id)s::uuid"
)


@dataclass(frozen=True, slots=True)
class StoredKey:
    """What an idempotency key was first used for."""

    request: dict[str, Any]
    charge_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class DueWebhook:
    """A webhook claimed for one delivery attempt (row-locked until the caller commits)."""

    webhook_id: uuid.UUID
    charge_id: uuid.UUID
    event_type: str
    url: str
    body: str
    attempts: int
    created_at: datetime


def insert_charge(session: Session, charge: Charge) -> None:
    """Store a new charge."""
    sql(session, _INSERT_CHARGE_SQL, _charge_parameters(charge))


def charge_by_id(
    session: Session, charge_id: uuid.UUID, *, for_update: bool = False
) -> Charge | None:
    """The charge, or None; ``for_update`` row-locks it until the transaction ends."""
    statement = _CHARGE_FOR_UPDATE_SQL if for_update else _CHARGE_SQL
    row = sql(session, statement, {"charge_id": str(charge_id)}).mappings().first()
    return _charge(row) if row is not None else None


def charges_by_reference(session: Session, reference: str, *, limit: int) -> list[Charge]:
    """The charges created with this merchant reference, newest first."""
    rows = sql(session, _CHARGES_BY_REFERENCE_SQL, {"reference": reference, "limit": limit})
    return [_charge(row) for row in rows.mappings()]


def charges_due_for_expiry(session: Session, *, now: datetime, limit: int) -> list[Charge]:
    """Pending charges whose time is up, row-locked (those locked elsewhere are skipped)."""
    rows = sql(session, _DUE_FOR_EXPIRY_SQL, {"now": now, "limit": limit})
    return [_charge(row) for row in rows.mappings()]


def save_status(session: Session, charge: Charge) -> None:
    """Write a charge's status and transition timestamps."""
    sql(
        session,
        _SAVE_STATUS_SQL,
        {
            "charge_id": str(charge.charge_id),
            "status": charge.status.value,
            "paid_at": charge.paid_at,
            "expired_at": charge.expired_at,
            "refunded_at": charge.refunded_at,
            "cancelled_at": charge.cancelled_at,
        },
    )


def claim_idempotency_key(
    session: Session,
    *,
    operation: str,
    key: str,
    request: dict[str, Any],
    charge_id: uuid.UUID,
    now: datetime,
) -> StoredKey | None:
    """Record ``key`` for this request; None if it is new, else what it was first used for.

    A concurrent first use of the same key waits here until that transaction ends (the unique
    index does it), then sees its outcome: two racing requests never both create a charge.
    """
    parameters = {
        "operation": operation,
        "key": key,
        "request": orjson.dumps(request).decode(),
        "charge_id": str(charge_id),
        "now": now,
    }
    if sql(session, _CLAIM_KEY_SQL, parameters).first() is not None:
        return None
    row = sql(session, _KEY_SQL, {"operation": operation, "key": key}).one()
    return StoredKey(request=dict(row.request), charge_id=row.charge_id)


def insert_webhook(
    session: Session,
    *,
    webhook_id: uuid.UUID,
    charge_id: uuid.UUID,
    event_type: str,
    url: str,
    body: str,
    now: datetime,
) -> None:
    """Queue a webhook, due at once."""
    sql(
        session,
        _INSERT_WEBHOOK_SQL,
        {
            "webhook_id": str(webhook_id),
            "charge_id": str(charge_id),
            "event_type": event_type,
            "url": url,
            "body": body,
            "now": now,
        },
    )


def claim_due_webhook(session: Session, *, now: datetime) -> DueWebhook | None:
    """The next due webhook nobody else is sending, row-locked; None when there is none."""
    row = sql(session, _CLAIM_WEBHOOK_SQL, {"now": now}).first()
    if row is None:
        return None
    return DueWebhook(
        webhook_id=row.webhook_id,
        charge_id=row.charge_id,
        event_type=row.event_type,
        url=row.url,
        body=row.body,
        attempts=row.attempts,
        created_at=row.created_at,
    )


def next_webhook_due_at(session: Session, *, now: datetime) -> datetime | None:
    """When the next pending webhook falls due (among those not due yet), or None."""
    due: datetime | None = sql(session, _NEXT_WEBHOOK_DUE_SQL, {"now": now}).scalar()
    return due


def record_webhook_attempt(
    session: Session,
    webhook_id: uuid.UUID,
    *,
    status: str,
    attempts: int,
    next_attempt_at: datetime,
    last_status: int | None,
    last_error: str | None,
    delivered_at: datetime | None,
) -> None:
    """Store the outcome of one delivery attempt."""
    sql(
        session,
        _WEBHOOK_ATTEMPTED_SQL,
        {
            "webhook_id": str(webhook_id),
            "status": status,
            "attempts": attempts,
            "next_attempt_at": next_attempt_at,
            "last_status": last_status,
            "last_error": last_error,
            "delivered_at": delivered_at,
        },
    )


def _charge_parameters(charge: Charge) -> dict[str, Any]:
    return {
        "charge_id": str(charge.charge_id),
        "status": charge.status.value,
        "amount": charge.amount,
        "currency": charge.currency,
        "description": charge.description,
        "reference": charge.reference,
        "notification_url": charge.notification_url,
        "txid": charge.txid,
        "qr_code": charge.qr_code,
        "qr_code_png": charge.qr_code_png,
        "expires_at": charge.expires_at,
        "created_at": charge.created_at,
        "paid_at": charge.paid_at,
        "expired_at": charge.expired_at,
        "refunded_at": charge.refunded_at,
        "cancelled_at": charge.cancelled_at,
    }


def _charge(row: Any) -> Charge:
    return Charge(
        charge_id=row["charge_id"],
        status=ChargeStatus(row["status"]),
        amount=row["amount"],
        currency=row["currency"],
        description=row["description"],
        reference=row["reference"],
        notification_url=row["notification_url"],
        txid=row["txid"],
        qr_code=row["qr_code"],
        qr_code_png=row["qr_code_png"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
        paid_at=row["paid_at"],
        expired_at=row["expired_at"],
        refunded_at=row["refunded_at"],
        cancelled_at=row["cancelled_at"],
    )
