"""One contract for the profile repository, run against PostgreSQL (adapters/repository.py) and
against the in-memory fake (adapters/memory.py) the unit tests rely on: if the fake drifts from
the database's behaviour, this fails."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from servicekit.messaging.unit_of_work import Cause, transaction
from tests.support import scratch_database, sqlalchemy_url
from user_service.adapters.memory import InMemoryUserUnitOfWork, ProfileStore
from user_service.adapters.repository import SqlUserUnitOfWork
from user_service.application.ports import UserUnitOfWork
from user_service.domain.model import Address, Profile

pytestmark = pytest.mark.integration

UnitOfWork = Callable[[], AbstractContextManager[UserUnitOfWork]]
HOME = Address("Rua Exemplo", "10A", "São Paulo", "SP", "Brazil", "01000-000")


@pytest.fixture(scope="module")
def database(engines: None) -> Iterator[str]:
    with scratch_database("user", migrations="user_service") as url:
        yield url


@pytest.fixture(params=["postgresql", "memory"])
def unit_of_work(request: pytest.FixtureRequest) -> Iterator[UnitOfWork]:
    if request.param == "memory":
        store = ProfileStore()
        yield lambda: InMemoryUserUnitOfWork(store, Cause("c"))
        return
    engine = create_engine(sqlalchemy_url(request.getfixturevalue("database")))
    sessions = sessionmaker(engine, expire_on_commit=False)
    yield lambda: transaction(sessions, SqlUserUnitOfWork)
    engine.dispose()


def registered(name: str = "Ann") -> Profile:
    user_id = str(uuid.uuid4())
    return Profile.register(user_id=user_id, email=f"{user_id[:8]}@example.com", full_name=name)


def test_a_profile_is_added_once_and_loads_back_as_it_was(unit_of_work: UnitOfWork) -> None:
    profile = registered()
    with unit_of_work() as uow:
        assert uow.profiles.add(profile) is True
    with unit_of_work() as uow:
        assert (
            uow.profiles.add(
                Profile.register(
                    user_id=profile.user_id, email="x@example.com", full_name="Someone else"
                )
            )
            is False
        )
        loaded = uow.profiles.get_for_update(profile.user_id)
        assert uow.profiles.get_for_update(str(uuid.uuid4())) is None
    assert loaded == Profile(profile.user_id, profile.email, "Ann", None, [])


def test_saved_changes_persist_and_the_email_stays_the_accounts(unit_of_work: UnitOfWork) -> None:
    profile = registered()
    with unit_of_work() as uow:
        uow.profiles.add(profile)
    with unit_of_work() as uow:
        loaded = uow.profiles.get_for_update(profile.user_id)
        assert loaded is not None
        loaded.full_name, loaded.phone, loaded.addresses = "Ann Lee", "+55 11 99999-0000", [HOME]
        loaded.email = "changed@example.com"
        uow.profiles.save(loaded)
    with unit_of_work() as uow:
        again = uow.profiles.get_for_update(profile.user_id)
        assert again == Profile(
            profile.user_id, profile.email, "Ann Lee", "+55 11 99999-0000", [HOME]
        )
        again.phone, again.addresses = None, []
        uow.profiles.save(again)
    with unit_of_work() as uow:
        cleared = uow.profiles.get_for_update(profile.user_id)
    assert cleared is not None and (cleared.phone, cleared.addresses) == (None, [])


def test_a_rolled_back_unit_of_work_leaves_nothing(unit_of_work: UnitOfWork) -> None:
    profile = registered()
    with pytest.raises(RuntimeError), unit_of_work() as uow:
        uow.profiles.add(profile)
        raise RuntimeError("the handler failed")
    with unit_of_work() as uow:
        assert uow.profiles.get_for_update(profile.user_id) is None
        assert uow.profiles.add(profile) is True
