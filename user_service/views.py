"""Reads of profiles for the API: one profile, a page of them, a customer found by CPF.
Queries only, apart from the use cases (commands.py, handlers.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from user_service.adapters.tables import profiles
from user_service.domain.contact import mask_national_id

_FIELDS = (
    profiles.c.user_id,
    profiles.c.email,
    profiles.c.full_name,
    profiles.c.phone,
    profiles.c.addresses,
    profiles.c.national_id,
    profiles.c.notification_channels,
    profiles.c.roles,
    profiles.c.guest,
)


def _profile_view(row: RowMapping, *, mask: bool = False) -> dict[str, Any]:
    national_id = row["national_id"]
    return {
        **row,
        "user_id": str(row["user_id"]),
        "addresses": row["addresses"] or [],
        "national_id": mask_national_id(national_id) if mask and national_id else national_id,
    }


def get_profile(session: Session, user_id: str) -> dict[str, Any] | None:
    """One profile, or None; its CPF in full (its owner asks)."""
    row = session.execute(select(*_FIELDS).where(profiles.c.user_id == user_id)).mappings().first()
    return None if row is None else _profile_view(row)


def list_profiles(
    session: Session, *, page: int, size: int, national_id: str | None = None
) -> tuple[list[dict[str, Any]], int]:
    """A page of profiles, oldest first, and how many there are; with ``national_id`` (the
    CPF's digits), only the profile holding it. A CPF shows in full only to whoever named it:
    the list without one masks every CPF."""
    where = [] if national_id is None else [profiles.c.national_id == national_id]
    total = session.execute(select(func.count()).select_from(profiles).where(*where)).scalar_one()
    rows = session.execute(
        select(*_FIELDS)
        .where(*where)
        .order_by(profiles.c.created_at, profiles.c.user_id)
        .offset((page - 1) * size)
        .limit(size)
    ).mappings()
    return [_profile_view(row, mask=national_id is None) for row in rows], int(total)
