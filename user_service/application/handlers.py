"""The events user_service consumes: one handler each, ``on_<event>(event, uow)``, in the inbox
consumer's transaction (the inbox makes a redelivery a no-op)."""

from __future__ import annotations

from contracts.events import AccountRegistered
from servicekit.logging import get_logger
from user_service.application.ports import UserUnitOfWork
from user_service.domain.model import Profile

log = get_logger(__name__)


def on_account_registered(event: AccountRegistered, uow: UserUnitOfWork) -> None:
    """Make the profile of a new account."""
    profile = Profile.register(user_id=event.user_id, email=event.email, full_name=event.full_name)
    if uow.profiles.add(profile):
        log.info("profile_created", user_id=event.user_id)
