"""Users endpoints: each one call to the application (commands.py for changes, views.py for
reads). Domain errors become statuses in api/errors.py."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from servicekit.api import PageNumber, PageSize, errors
from servicekit.dependencies import CurrentUser, RuntimeDep, SessionDep
from servicekit.tokens import Principal
from user_service import views
from user_service.api.schemas import NationalId, Profile, ProfilePage, ProfileUpdate
from user_service.application import commands
from user_service.application.ports import UserUnitOfWork
from user_service.domain.errors import ProfileNotFound

router = APIRouter(prefix="/api/users", tags=["users"])

UnitOfWorkFactory = Callable[[], AbstractContextManager[UserUnitOfWork]]


async def get_unit_of_work(runtime: RuntimeDep) -> UnitOfWorkFactory:
    """Units of work that own their transaction, wired at start-up (main.py)."""
    unit_of_work: UnitOfWorkFactory = runtime.extras["unit_of_work"]
    return unit_of_work


UnitOfWorkDep = Annotated[UnitOfWorkFactory, Depends(get_unit_of_work)]


async def get_lister(principal: CurrentUser, request: Request) -> Principal:
    """Who may list profiles: admins; staff too when they look a customer up by CPF. Decided
    before the query is validated, so a customer learns nothing from a 422."""
    if "national_id" in request.query_params:
        if not principal.is_staff:
            raise HTTPException(403, "staff or admin role required")
    elif not principal.is_admin:
        raise HTTPException(403, "admin role required")
    return principal


Lister = Annotated[Principal, Depends(get_lister)]


@router.get("/me", responses=errors(404))
def me(user: CurrentUser, session: SessionDep) -> Profile:
    """The caller's profile, its CPF in full (its owner asks)."""
    profile = views.get_profile(session, user.user_id)
    if profile is None:
        raise ProfileNotFound()
    return Profile.model_validate(profile)


@router.patch("/me", responses=errors(404, 409))
def update_me(body: ProfileUpdate, user: CurrentUser, unit_of_work: UnitOfWorkDep) -> Profile:
    """Change the caller's name, phone, addresses, CPF or notification channels (guests
    too: a guest identifies by CPF). 409 when another customer holds the CPF."""
    command = commands.UpdateProfile(user.user_id, body.changes())
    with unit_of_work() as uow:
        return Profile.of(commands.update_profile(command, uow))


@router.get("", responses=errors(403))
def list_users(
    _lister: Lister,
    session: SessionDep,
    national_id: Annotated[
        NationalId | None, Query(description="staff or admin: the customer holding this CPF")
    ] = None,
    page: PageNumber = 1,
    size: PageSize = 20,
) -> ProfilePage:
    """Admin: every profile, paginated, CPFs masked. Staff or admin with ``national_id``:
    the customer holding that CPF (no items when nobody does)."""
    rows, total = views.list_profiles(session, page=page, size=size, national_id=national_id)
    return ProfilePage(
        items=[Profile.model_validate(row) for row in rows], page=page, size=size, total=total
    )
