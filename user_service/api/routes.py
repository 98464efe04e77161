"""Users endpoints: each one call to the application (commands.py for changes, views.py for
reads). Domain errors become statuses in api/errors.py."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Annotated

from fastapi import APIRouter, Depends

from servicekit.api import PageNumber, PageSize, errors
from servicekit.dependencies import AdminUser, CurrentUser, RuntimeDep, SessionDep
from user_service import views
from user_service.api.schemas import Profile, ProfilePage, ProfileUpdate
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


@router.get("/me", responses=errors(404))
def me(user: CurrentUser, session: SessionDep) -> Profile:
    """The caller's profile."""
    profile = views.get_profile(session, user.user_id)
    if profile is None:
        raise ProfileNotFound()
    return Profile.model_validate(profile)


@router.patch("/me", responses=errors(404))
def update_me(body: ProfileUpdate, user: CurrentUser, unit_of_work: UnitOfWorkDep) -> Profile:
    """Change the caller's name, phone or addresses."""
    command = commands.UpdateProfile(user.user_id, body.changes())
    with unit_of_work() as uow:
        return Profile.of(commands.update_profile(command, uow))


@router.get("", responses=errors(403))
def list_users(
    _admin: AdminUser,
    session: SessionDep,
    page: PageNumber = 1,
    size: PageSize = 20,
) -> ProfilePage:
    """Admin: every profile, paginated."""
    rows, total = views.list_profiles(session, page=page, size=size)
    return ProfilePage(
        items=[Profile.model_validate(row) for row in rows], page=page, size=size, total=total
    )
