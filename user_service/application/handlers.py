"""User use cases: one function per command or consumed event."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from contracts.events import CATALOG, AccountRegistered
from servicekit.logging import get_logger
from servicekit.messaging.envelope import Envelope
from user_service.adapters.tables import profiles

log = get_logger(__name__)


def on_account_registered(session: Session, envelope: Envelope) -> None:
    """Create the profile of a new account (the inbox makes a redelivery a no-op)."""
    event = CATALOG.parse(envelope)
    assert isinstance(event, AccountRegistered)
    session.execute(
        insert(profiles)
        .values(user_id=event.user_id, email=event.email, full_name=event.full_name)
        .on_conflict_do_nothing(index_elements=["user_id"])
    )
    log.info("profile_created", user_id=event.user_id)


def get_profile(session: Session, user_id: str) -> RowMapping | None:
    """One profile, or None."""
    return session.execute(select(profiles).where(profiles.c.user_id == user_id)).mappings().first()


def update_profile(session: Session, user_id: str, changes: dict[str, Any]) -> RowMapping | None:
    """Apply the given fields; None when the profile does not exist (yet)."""
    with session.begin():
        if not changes:
            return get_profile(session, user_id)
        return (
            session.execute(
                update(profiles)
                .where(profiles.c.user_id == user_id)
                .values(**changes, updated_at=func.now())
                .returning(*profiles.c)
            )
            .mappings()
            .first()
        )


def list_profiles(session: Session, *, page: int, size: int) -> tuple[list[RowMapping], int]:
    """A page of profiles, oldest first, and the total count."""
    total = session.execute(select(func.count()).select_from(profiles)).scalar_one()
    rows = (
        session.execute(
            select(profiles)
            .order_by(profiles.c.created_at, profiles.c.user_id)
            .offset((page - 1) * size)
            .limit(size)
        )
        .mappings()
        .all()
    )
    return list(rows), int(total)
