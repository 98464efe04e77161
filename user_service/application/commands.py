"""What users ask of their profile: one function per command, ``(command, uow)``, each in a
unit of work that owns its transaction."""

from __future__ import annotations

from dataclasses import dataclass

from servicekit.logging import get_logger
from user_service.application.ports import UserUnitOfWork
from user_service.domain.errors import NationalIdTaken, ProfileNotFound
from user_service.domain.model import Profile, ProfileChanges

log = get_logger(__name__)


@dataclass(frozen=True)
class UpdateProfile:
    """A user changes some fields of their own profile."""

    user_id: str
    changes: ProfileChanges


def update_profile(command: UpdateProfile, uow: UserUnitOfWork) -> Profile:
    """Apply the fields given and return the profile; ProfileNotFound when the user has none
    (yet), NationalIdTaken when another profile holds the CPF it claims. A change that names
    nothing writes nothing."""
    profile = uow.profiles.get_for_update(command.user_id)
    if profile is None:
        raise ProfileNotFound()
    if command.changes.empty:
        return profile
    claimed = command.changes.national_id
    if isinstance(claimed, str) and claimed != profile.national_id:
        holder = uow.profiles.holder_of(claimed)
        if holder is not None and holder != profile.user_id:
            raise NationalIdTaken()
    profile.change(command.changes)
    uow.profiles.save(profile)
    # Which fields, never their values: a CPF or a phone number is personal data.
    log.info("profile_changed", user_id=profile.user_id, fields=command.changes.named)
    return profile
