"""The in-memory fake of the profile repository and unit of work: the rules' unit tests run on
it in milliseconds, and the repository contract tests hold it to the SQL implementation's
behaviour (tests/user_service/integration/test_repository_contract.py)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from servicekit.messaging.unit_of_work import Cause, InMemoryUnitOfWork
from user_service.application.ports import NATIONAL_ID_LOCK, national_id_lock_key
from user_service.domain.errors import NationalIdTaken
from user_service.domain.model import AGGREGATE, Profile


@dataclass
class ProfileStore:
    """What the fake keeps between units of work, as a database would."""

    profiles: dict[str, Profile] = field(default_factory=dict)


def _row(profile: Profile) -> Profile:
    """A copy without events, as a row would hold it."""
    kept = copy.deepcopy(profile)
    kept.events = []
    return kept


class InMemoryProfiles:
    """Profiles in a dict; loads hand out copies, as rows would."""

    def __init__(self, uow: InMemoryUserUnitOfWork) -> None:
        self._uow = uow

    def add(self, profile: Profile) -> bool:
        """See Profiles.add."""
        self._uow.lock(AGGREGATE, profile.user_id)
        if self._stored(profile.user_id) is not None:
            return False
        self._uow.pending[profile.user_id] = _row(profile)
        self._uow.track(profile)
        return True

    def get_for_update(self, user_id: str) -> Profile | None:
        """See Profiles.get_for_update."""
        self._uow.lock(AGGREGATE, user_id)
        stored = self._stored(user_id)
        if stored is None:
            return None
        profile = _row(stored)
        self._uow.track(profile)
        return profile

    def holder_of(self, national_id: str) -> str | None:
        """See Profiles.holder_of."""
        self._uow.lock(NATIONAL_ID_LOCK, national_id_lock_key(national_id))
        return next(
            (p.user_id for p in self._all() if p.national_id == national_id),
            None,
        )

    def save(self, profile: Profile) -> None:
        """See Profiles.save: every field but the email, which is only ever set once."""
        stored = self._stored(profile.user_id)
        if stored is None:
            return
        if profile.national_id is not None and any(
            other.national_id == profile.national_id and other.user_id != profile.user_id
            for other in self._all()
        ):
            raise NationalIdTaken()  # the unique index's answer
        kept = _row(profile)
        kept.email = stored.email or profile.email
        self._uow.pending[profile.user_id] = kept

    def _stored(self, user_id: str) -> Profile | None:
        return self._uow.pending.get(user_id) or self._uow.store.profiles.get(user_id)

    def _all(self) -> list[Profile]:
        return list({**self._uow.store.profiles, **self._uow.pending}.values())


class InMemoryUserUnitOfWork(InMemoryUnitOfWork):
    """The user unit of work on a ProfileStore: changes reach the store only on commit."""

    def __init__(self, store: ProfileStore | None = None, cause: Cause | None = None) -> None:
        super().__init__(cause)
        self.store = store or ProfileStore()
        self.pending: dict[str, Profile] = {}
        self.profiles = InMemoryProfiles(self)

    def _commit(self) -> None:
        super()._commit()
        self.store.profiles.update(self.pending)
        self.pending.clear()

    def rollback(self) -> None:
        """Forget what was not committed."""
        super().rollback()
        self.pending.clear()
