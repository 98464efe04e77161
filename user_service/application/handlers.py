"""The events user_service consumes: one handler each, ``on_<event>(event, uow)``, in the inbox
consumer's transaction (the inbox makes a redelivery a no-op). Every handler locks the user its
event is about (consumers.py names that lock for the whole batch)."""

from __future__ import annotations

from contracts.events import AccountRegistered, AccountRolesChanged, GuestConverted, GuestRegistered
from servicekit.logging import get_logger
from user_service.application.ports import UserUnitOfWork
from user_service.domain.model import Profile

log = get_logger(__name__)


def on_account_registered(event: AccountRegistered, uow: UserUnitOfWork) -> None:
    """Make the profile of a new account."""
    profile = Profile.register(
        user_id=event.user_id,
        email=event.email,
        full_name=event.full_name,
        roles=tuple(event.roles),
    )
    if uow.profiles.add(profile):
        log.info("profile_created", user_id=event.user_id, guest=False)


def on_guest_registered(event: GuestRegistered, uow: UserUnitOfWork) -> None:
    """Make the profile of a guest: no email, no name of its own."""
    profile = Profile.register_guest(user_id=event.user_id, roles=tuple(event.roles))
    if uow.profiles.add(profile):
        log.info("profile_created", user_id=event.user_id, guest=True)


def on_guest_converted(event: GuestConverted, uow: UserUnitOfWork) -> None:
    """The guest registered: its profile (the same user) gets the email and name. A guest whose
    profile was never made (its guest_registered went to the dead-letter topic) gets one now."""
    profile = uow.profiles.get_for_update(event.user_id)
    if profile is None:
        uow.profiles.add(
            Profile.register(
                user_id=event.user_id,
                email=event.email,
                full_name=event.full_name,
                roles=tuple(event.roles),
            )
        )
        log.warning("profile_created_at_conversion", user_id=event.user_id)
        return
    profile.convert(email=event.email, full_name=event.full_name, roles=tuple(event.roles))
    uow.profiles.save(profile)
    log.info("profile_converted", user_id=event.user_id)


def on_account_roles_changed(event: AccountRolesChanged, uow: UserUnitOfWork) -> None:
    """The profile shows the account's roles."""
    profile = uow.profiles.get_for_update(event.user_id)
    if profile is None:
        # Its registration came first on the same partition: it went to the dead-letter topic.
        log.warning("roles_changed_without_profile", user_id=event.user_id)
        return
    profile.change_roles(tuple(event.roles))
    uow.profiles.save(profile)
