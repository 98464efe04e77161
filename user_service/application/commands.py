"""What users ask of their profile: one function per command, ``(command, uow)``, each in a
unit of work that owns its transaction."""

from __future__ import annotations

from dataclasses import dataclass

from user_service.application.ports import UserUnitOfWork
from user_service.domain.errors import ProfileNotFound
from user_service.domain.model import Profile, ProfileChanges


@dataclass(frozen=True)
class UpdateProfile:
    """A user changes some fields of their own profile."""

    user_id: str
    changes: ProfileChanges


def update_profile(command: UpdateProfile, uow: UserUnitOfWork) -> Profile:
    """Apply the fields given and return the profile; ProfileNotFound when the user has none
    (yet). A change that names nothing writes nothing."""
    profile = uow.profiles.get_for_update(command.user_id)
    if profile is None:
        raise ProfileNotFound()
    if not command.changes.empty:
        profile.change(command.changes)
        uow.profiles.save(profile)
    return profile
