"""The user service on its fakes, driven as the platform drives it: the events it consumes and
the commands its owner sends, each in a unit of work of its own."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.events import AccountRegistered, AccountRolesChanged, GuestConverted, GuestRegistered
from servicekit.messaging.unit_of_work import Cause
from user_service.adapters.memory import InMemoryUserUnitOfWork, ProfileStore
from user_service.application import handlers
from user_service.application.commands import UpdateProfile, update_profile
from user_service.domain.model import Profile, ProfileChanges


class Users:
    """One store, and the units of work the tests ran on it."""

    def __init__(self) -> None:
        self.store = ProfileStore()
        self.uows: list[InMemoryUserUnitOfWork] = []

    def unit_of_work(self) -> InMemoryUserUnitOfWork:
        self.uows.append(InMemoryUserUnitOfWork(self.store, Cause("corr")))
        return self.uows[-1]

    def registered(self, user_id: str, name: str = "Ann", roles: tuple[str, ...] = ()) -> None:
        event = AccountRegistered(
            user_id=user_id,
            email=f"{user_id[:8]}@example.com",
            full_name=name,
            roles=list(roles or ("customer",)),
            registered_at=datetime.now(UTC),
        )
        with self.unit_of_work() as uow:
            handlers.on_account_registered(event, uow)

    def guest(self, user_id: str) -> None:
        event = GuestRegistered(user_id=user_id, roles=["guest"], registered_at=datetime.now(UTC))
        with self.unit_of_work() as uow:
            handlers.on_guest_registered(event, uow)

    def converted(self, user_id: str, email: str, name: str) -> None:
        event = GuestConverted(
            user_id=user_id,
            email=email,
            full_name=name,
            roles=["customer"],
            converted_at=datetime.now(UTC),
        )
        with self.unit_of_work() as uow:
            handlers.on_guest_converted(event, uow)

    def roles_changed(self, user_id: str, roles: list[str]) -> None:
        event = AccountRolesChanged(user_id=user_id, roles=roles, changed_by="admin-id")
        with self.unit_of_work() as uow:
            handlers.on_account_roles_changed(event, uow)

    def update(self, user_id: str, changes: ProfileChanges) -> Profile:
        with self.unit_of_work() as uow:
            return update_profile(UpdateProfile(user_id, changes), uow)
