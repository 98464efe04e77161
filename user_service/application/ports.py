"""What the profile use cases need from persistence, as protocols: the SQL implementation is in
adapters/repository.py, the in-memory fake (for unit tests of the rules) in adapters/memory.py,
and one contract test suite runs against both."""

from __future__ import annotations

import hashlib
from typing import Protocol

from servicekit.messaging.unit_of_work import UnitOfWorkPort
from user_service.domain.model import Profile

# The lock that serialises claims of one CPF (see Profiles.holder_of).
NATIONAL_ID_LOCK = "national_id"


def national_id_lock_key(national_id: str) -> str:
    """Which of 65,536 locks guards claims of this CPF. Claims of one CPF always meet on the
    same lock; a lock key (which PostgreSQL may log) says nothing about the CPF, since some
    15,000 valid CPFs share each one."""
    return hashlib.blake2b(national_id.encode(), digest_size=2).hexdigest()


class Profiles(Protocol):
    """The profiles, one aggregate per user."""

    def add(self, profile: Profile) -> bool:
        """Store a new profile, taking its aggregate lock first; False (nothing written) when
        the user has one already (the same registration delivered again)."""
        ...

    def get_for_update(self, user_id: str) -> Profile | None:
        """The profile, locked (aggregate lock, then row lock) until the end of the work."""
        ...

    def holder_of(self, national_id: str) -> str | None:
        """The user whose profile holds this CPF, if any; first takes the CPF's lock until the
        end of the work, so that a claim checked with it cannot race another claim of the same
        CPF (the loser sees the winner's, instead of failing on the unique index)."""
        ...

    def save(self, profile: Profile) -> None:
        """Write the profile's changed fields. The email comes from the account: set once (at
        registration, or when a guest registers), never changed here. NationalIdTaken when
        another profile holds its CPF; the work cannot go on after that."""
        ...


class UserUnitOfWork(UnitOfWorkPort, Protocol):
    """What every profile use case works with."""

    @property
    def profiles(self) -> Profiles:
        """The profiles."""
        ...
