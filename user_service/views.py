"""Reads of profiles for the API: one profile, a page of them. Queries only, apart from the use
cases (commands.py, handlers.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from user_service.adapters.tables import profiles

_FIELDS = (
    profiles.c.user_id,
    profiles.c.email,
    profiles.c.full_name,
    profiles.c.phone,
    profiles.c.addresses,
)


def _profile_view(row: RowMapping) -> dict[str, Any]:
    return {**row, "user_id": str(row["user_id"]), "addresses": row["addresses"] or []}


def get_profile(session: Session, user_id: str) -> dict[str, Any] | None:
    """One profile, or None."""
    row = session.execute(select(*_FIELDS).where(profiles.c.user_id == user_id)).mappings().first()
    return None if row is None else _profile_view(row)


def list_profiles(session: Session, *, page: int, size: int) -> tuple[list[dict[str, Any]], int]:
    """A page of profiles, oldest first, and how many there are."""
    total = session.execute(select(func.count()).select_from(profiles)).scalar_one()
    rows = session.execute(
        select(*_FIELDS)
        .order_by(profiles.c.created_at, profiles.c.user_id)
        .offset((page - 1) * size)
        .limit(size)
    ).mappings()
    return [_profile_view(row) for row in rows], int(total)
