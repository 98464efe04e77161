"""One contract for the profile repository, run against PostgreSQL (adapters/repository.py) and
against the in-memory fake (adapters/memory.py) the unit tests rely on: if the fake drifts from
the database's behaviour, this fails. Includes the CPF: one holder at most, found by its CPF,
under a lock of its own."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import psycopg2
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from servicekit.messaging.unit_of_work import Cause, transaction
from tests.support import scratch_database, sqlalchemy_url, wait_for
from user_service.adapters.memory import InMemoryUserUnitOfWork, ProfileStore
from user_service.adapters.repository import SqlUserUnitOfWork
from user_service.application.ports import (
    NATIONAL_ID_LOCK,
    UserUnitOfWork,
    national_id_lock_key,
)
from user_service.domain.contact import cpf_check_digits
from user_service.domain.errors import NationalIdTaken
from user_service.domain.model import GUEST_NAME, Address, Profile

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
        loaded.full_name, loaded.phone, loaded.addresses = "Ann Lee", "+5511999990000", [HOME]
        loaded.email = "changed@example.com"
        uow.profiles.save(loaded)
    with unit_of_work() as uow:
        again = uow.profiles.get_for_update(profile.user_id)
        assert again == Profile(profile.user_id, profile.email, "Ann Lee", "+5511999990000", [HOME])
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


def cpf() -> str:
    """A valid CPF no other test uses (a random first nine digits and their check digits)."""
    first_nine = f"{uuid.uuid4().int % 10**9:09d}"
    return first_nine + cpf_check_digits(first_nine)


def test_every_field_of_a_profile_round_trips(unit_of_work: UnitOfWork) -> None:
    profile = registered()
    national_id = cpf()
    with unit_of_work() as uow:
        uow.profiles.add(profile)
    with unit_of_work() as uow:
        loaded = uow.profiles.get_for_update(profile.user_id)
        assert loaded is not None
        assert (loaded.national_id, loaded.notification_channels) == (None, ("email",))
        assert (loaded.roles, loaded.guest) == (("customer",), False)
        loaded.national_id, loaded.notification_channels = national_id, ("email", "sms")
        loaded.phone, loaded.roles = "+5511987654321", ("customer", "staff")
        uow.profiles.save(loaded)
    with unit_of_work() as uow:
        again = uow.profiles.get_for_update(profile.user_id)
    assert again == Profile(
        profile.user_id,
        profile.email,
        "Ann",
        "+5511987654321",
        [],
        national_id=national_id,
        notification_channels=("email", "sms"),
        roles=("customer", "staff"),
        guest=False,
    )


def test_a_guest_has_no_email_until_it_registers_and_then_keeps_it(
    unit_of_work: UnitOfWork,
) -> None:
    guest = Profile.register_guest(user_id=str(uuid.uuid4()))
    with unit_of_work() as uow:
        assert uow.profiles.add(guest) is True
    with unit_of_work() as uow:
        loaded = uow.profiles.get_for_update(guest.user_id)
        assert loaded is not None
        assert (loaded.email, loaded.full_name, loaded.guest) == (None, GUEST_NAME, True)
        assert loaded.roles == ("guest",)
        loaded.convert(email="ann@example.com", full_name="Ann", roles=("customer",))
        uow.profiles.save(loaded)
    with unit_of_work() as uow:
        converted = uow.profiles.get_for_update(guest.user_id)
        assert converted is not None
        assert (converted.email, converted.full_name, converted.guest) == (
            "ann@example.com",
            "Ann",
            False,
        )
        converted.email = "other@example.com"
        uow.profiles.save(converted)
    with unit_of_work() as uow:
        kept = uow.profiles.get_for_update(guest.user_id)
    assert kept is not None and kept.email == "ann@example.com"


def test_a_cpf_is_found_by_its_holder_under_its_own_lock(unit_of_work: UnitOfWork) -> None:
    ann, national_id = registered(), cpf()
    with unit_of_work() as uow:
        uow.profiles.add(ann)
    with unit_of_work() as uow:
        assert uow.profiles.holder_of(national_id) is None
        loaded = uow.profiles.get_for_update(ann.user_id)
        assert loaded is not None
        loaded.national_id = national_id
        uow.profiles.save(loaded)
    with unit_of_work() as uow:
        assert uow.profiles.holder_of(national_id) == ann.user_id
        assert uow.profiles.holder_of(cpf()) is None
        if isinstance(uow, InMemoryUserUnitOfWork):
            assert uow.locks[0] == (NATIONAL_ID_LOCK, national_id_lock_key(national_id))


def test_a_cpf_has_one_holder_at_most(unit_of_work: UnitOfWork) -> None:
    ann, bob, national_id = registered("Ann"), registered("Bob"), cpf()
    with unit_of_work() as uow:
        uow.profiles.add(ann)
        uow.profiles.add(bob)
    with unit_of_work() as uow:
        loaded = uow.profiles.get_for_update(ann.user_id)
        assert loaded is not None
        loaded.national_id = national_id
        uow.profiles.save(loaded)
    with pytest.raises(NationalIdTaken), unit_of_work() as uow:
        other = uow.profiles.get_for_update(bob.user_id)
        assert other is not None
        other.national_id, other.full_name = national_id, "Bob B"
        uow.profiles.save(other)
    with unit_of_work() as uow:
        assert uow.profiles.holder_of(national_id) == ann.user_id
        unchanged = uow.profiles.get_for_update(bob.user_id)
        assert unchanged is not None
        assert (unchanged.national_id, unchanged.full_name) == (None, "Bob")
        # Its holder saves it again (other fields changing) without a conflict with itself.
        holder = uow.profiles.get_for_update(ann.user_id)
        assert holder is not None
        holder.full_name = "Ann B"
        uow.profiles.save(holder)


def test_a_second_claim_of_a_cpf_waits_for_the_first_and_then_sees_its_holder(
    database: str,
) -> None:
    """PostgreSQL only: the race the lock exists for. The loser's check waits on the CPF's lock
    until the winner commits, then finds the winner: it never reaches the unique index."""
    engine = create_engine(sqlalchemy_url(database))
    sessions = sessionmaker(engine, expire_on_commit=False)
    ann, bob, national_id = registered("Ann"), registered("Bob"), cpf()
    with transaction(sessions, SqlUserUnitOfWork) as uow:
        uow.profiles.add(ann)
        uow.profiles.add(bob)
    seen_by_bob: list[str | None] = []

    def bob_claims() -> None:
        with transaction(sessions, SqlUserUnitOfWork) as uow:
            assert uow.profiles.get_for_update(bob.user_id) is not None
            seen_by_bob.append(uow.profiles.holder_of(national_id))

    with transaction(sessions, SqlUserUnitOfWork) as uow:
        winner = uow.profiles.get_for_update(ann.user_id)
        assert winner is not None and uow.profiles.holder_of(national_id) is None
        winner.national_id = national_id
        uow.profiles.save(winner)
        loser = threading.Thread(target=bob_claims)
        loser.start()
        wait_for(
            lambda: advisory_lock_waiters(database) == 1,
            what="the second claim waiting on the lock",
        )
        assert seen_by_bob == []
    loser.join(timeout=30)
    assert seen_by_bob == [ann.user_id]
    engine.dispose()


def advisory_lock_waiters(database: str) -> int:
    with psycopg2.connect(database) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
        )
        return int(cur.fetchone()[0])
