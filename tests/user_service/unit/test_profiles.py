"""Profiles on the fakes: made once per account from account.registered (a redelivery changes
nothing), changed by their owner one named field at a time, a name never cleared, and each
change locking the user first."""

from __future__ import annotations

import uuid
from dataclasses import asdict

import pytest

from contracts.events import (
    AccountRegistered,
    AccountRolesChanged,
    GuestConverted,
    GuestRegistered,
    ProfileUpdated,
)
from servicekit.messaging.envelope import Envelope
from tests.user_service.unit.fakes import Users
from user_service.api.schemas import ProfileUpdate
from user_service.consumers import SUBSCRIPTIONS
from user_service.domain.errors import InvalidProfileChange, ProfileNotFound
from user_service.domain.model import Address, ProfileChanges

HOME = Address("Rua Exemplo", "10A", "São Paulo", "SP", "Brazil", "01000-000")


@pytest.fixture
def users() -> Users:
    return Users()


def test_a_registration_makes_a_profile_with_name_and_email_only(users: Users) -> None:
    user_id = str(uuid.uuid4())
    users.registered(user_id)
    profile = users.store.profiles[user_id]
    assert (profile.email, profile.full_name, profile.phone, profile.addresses) == (
        f"{user_id[:8]}@example.com",
        "Ann",
        None,
        [],
    )
    assert users.uows[-1].locks == [("user", user_id)]
    assert users.uows[-1].events() == [
        ProfileUpdated(
            user_id=user_id,
            full_name="Ann",
            email=f"{user_id[:8]}@example.com",
            phone=None,
            notification_channels=["email"],
            guest=False,
        )
    ]


def test_the_same_registration_again_changes_nothing(users: Users) -> None:
    user_id = str(uuid.uuid4())
    users.registered(user_id)
    users.update(user_id, ProfileChanges(full_name="Ann Lee", addresses=(HOME,)))
    users.registered(user_id, name="Someone else")
    profile = users.store.profiles[user_id]
    assert (profile.full_name, profile.addresses) == ("Ann Lee", [HOME])


def test_only_the_named_fields_change(users: Users) -> None:
    user_id = str(uuid.uuid4())
    users.registered(user_id)
    users.update(user_id, ProfileChanges(phone="+5511999990000", addresses=(HOME,)))
    changed = users.update(user_id, ProfileChanges(full_name="Ann Lee"))
    assert (changed.full_name, changed.phone, changed.addresses) == (
        "Ann Lee",
        "+5511999990000",
        [HOME],
    )
    assert users.store.profiles[user_id] == changed
    cleared = users.update(user_id, ProfileChanges(phone=None, addresses=None))
    assert (cleared.full_name, cleared.phone, cleared.addresses) == ("Ann Lee", None, [])


def test_a_change_naming_nothing_writes_nothing(users: Users) -> None:
    user_id = str(uuid.uuid4())
    users.registered(user_id)
    before = users.store.profiles[user_id]
    assert users.update(user_id, ProfileChanges()) == before
    assert users.store.profiles[user_id] is before


def test_every_change_locks_the_user_first(users: Users) -> None:
    user_id = str(uuid.uuid4())
    users.registered(user_id)
    users.update(user_id, ProfileChanges(full_name="B"))
    assert users.uows[-1].locks == [("user", user_id)]


def test_a_name_is_never_cleared_and_nothing_is_looked_up_for_it() -> None:
    with pytest.raises(InvalidProfileChange, match="full_name cannot be null"):
        ProfileChanges(full_name=None)
    with pytest.raises(InvalidProfileChange):
        ProfileUpdate.model_validate({"full_name": None}).changes()


def test_a_user_without_a_profile_yet_is_told_so(users: Users) -> None:
    with pytest.raises(ProfileNotFound, match="moments after sign-up"):
        users.update(str(uuid.uuid4()), ProfileChanges(full_name="X"))
    assert users.store.profiles == {}


def test_the_request_names_exactly_the_fields_it_gave() -> None:
    given = ProfileUpdate.model_validate({"phone": None, "addresses": [asdict(HOME)]})
    assert given.changes() == ProfileChanges(phone=None, addresses=(HOME,))
    assert ProfileUpdate.model_validate({}).changes().empty
    assert ProfileUpdate.model_validate({"addresses": None}).changes() == ProfileChanges(
        addresses=None
    )


def test_the_consumer_table_names_the_event_its_topic_and_the_lock() -> None:
    assert SUBSCRIPTIONS.events == [
        AccountRegistered,
        GuestRegistered,
        GuestConverted,
        AccountRolesChanged,
    ]
    assert SUBSCRIPTIONS.topics == ["account.events"]
    assert SUBSCRIPTIONS.batch_locks is not None
    for kind in SUBSCRIPTIONS.events:
        event = Envelope(kind.event_type, "account", "u-1", {"user_id": "u-1"})
        assert list(SUBSCRIPTIONS.batch_locks(event)) == [("user", "u-1")]
