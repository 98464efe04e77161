"""What the profile use cases need from persistence, as protocols: the SQL implementation is in
adapters/repository.py, the in-memory fake (for unit tests of the rules) in adapters/memory.py,
and one contract test suite runs against both."""

from __future__ import annotations

from typing import Protocol

from servicekit.messaging.unit_of_work import UnitOfWorkPort
from user_service.domain.model import Profile


class Profiles(Protocol):
    """The profiles, one aggregate per user."""

    def add(self, profile: Profile) -> bool:
        """Store a new profile, taking its aggregate lock first; False (nothing written) when
        the user has one already (the same registration delivered again)."""
        ...

    def get_for_update(self, user_id: str) -> Profile | None:
        """The profile, locked (aggregate lock, then row lock) until the end of the work."""
        ...

    def save(self, profile: Profile) -> None:
        """Write the profile's changed fields."""
        ...


class UserUnitOfWork(UnitOfWorkPort, Protocol):
    """What every profile use case works with."""

    @property
    def profiles(self) -> Profiles:
        """The profiles."""
        ...
