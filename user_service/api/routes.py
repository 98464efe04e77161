"""Users endpoints."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from servicekit.api import PageNumber, PageSize, errors
from servicekit.web import AdminUser, CurrentUser, SessionDep
from user_service.api.schemas import Profile, ProfilePage, ProfileUpdate
from user_service.application import handlers

router = APIRouter(prefix="/api/users", tags=["users"])

NOT_YET = "profile not found (it is created from the registration event moments after sign-up)"


def _profile(row: Any) -> Profile:
    return Profile.model_validate(
        {**row, "user_id": str(row["user_id"]), "addresses": row["addresses"] or []}
    )


@router.get("/me", responses=errors(404))
def me(user: CurrentUser, session: SessionDep) -> Profile:
    """The caller's profile."""
    row = handlers.get_profile(session, user.user_id)
    if row is None:
        raise HTTPException(404, NOT_YET)
    return _profile(row)


@router.patch("/me", responses=errors(404))
def update_me(body: ProfileUpdate, user: CurrentUser, session: SessionDep) -> Profile:
    """Change the caller's name, phone or addresses."""
    changes = body.model_dump(exclude_unset=True, mode="json")
    if "full_name" in changes and changes["full_name"] is None:
        raise HTTPException(422, "full_name cannot be null")
    row = handlers.update_profile(session, user.user_id, changes)
    if row is None:
        raise HTTPException(404, NOT_YET)
    return _profile(row)


@router.get("", responses=errors(403))
def list_users(
    _admin: AdminUser,
    session: SessionDep,
    page: PageNumber = 1,
    size: PageSize = 20,
) -> ProfilePage:
    """Admin: every profile, paginated."""
    rows, total = handlers.list_profiles(session, page=page, size=size)
    return ProfilePage(items=[_profile(r) for r in rows], page=page, size=size, total=total)
