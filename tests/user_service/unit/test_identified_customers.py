"""Identified customers and guests on the fakes: a CPF claimed once (under its own lock, a
second claimer refused), phone and channels ("sms" needs a phone), guests' profiles made,
converted and given roles, and user.profile_updated recorded exactly when the contact changes,
never carrying the CPF."""

from __future__ import annotations

import uuid

import pytest

from contracts.events import ProfileUpdated
from tests.user_service.unit.fakes import Users
from user_service.application.ports import NATIONAL_ID_LOCK, national_id_lock_key
from user_service.domain.errors import InvalidProfileChange, NationalIdTaken
from user_service.domain.model import GUEST_NAME, Address, ProfileChanges

CPF = "12345678909"
OTHER_CPF = "52998224725"
HOME = Address("Rua Exemplo", "10A", "São Paulo", "SP", "Brazil", "01000-000")


@pytest.fixture
def users() -> Users:
    return Users()


def new_customer(users: Users) -> str:
    user_id = str(uuid.uuid4())
    users.registered(user_id)
    return user_id


def test_a_cpf_is_stored_as_its_digits_and_claimed_under_its_own_lock(users: Users) -> None:
    ann = new_customer(users)
    changed = users.update(ann, ProfileChanges(national_id="123.456.789-09"))
    assert changed.national_id == CPF
    assert users.store.profiles[ann].national_id == CPF
    assert users.uows[-1].locks == [("user", ann), (NATIONAL_ID_LOCK, national_id_lock_key(CPF))]


def test_a_cpf_another_customer_holds_is_refused_and_nothing_changes(users: Users) -> None:
    ann, bob = new_customer(users), new_customer(users)
    users.update(ann, ProfileChanges(national_id=CPF))
    before = users.store.profiles[bob]
    with pytest.raises(NationalIdTaken) as refused:
        users.update(bob, ProfileChanges(national_id=CPF, full_name="Bob", phone="+5511987654321"))
    assert CPF not in str(refused.value)
    assert users.store.profiles[bob] == before
    assert users.uows[-1].events() == []
    # Its holder may name it again (nothing to claim), and another CPF is free.
    assert users.update(ann, ProfileChanges(national_id=CPF, full_name="Ann")).national_id == CPF
    assert users.update(bob, ProfileChanges(national_id=OTHER_CPF)).national_id == OTHER_CPF


def test_a_forgotten_cpf_is_free_for_someone_else(users: Users) -> None:
    ann, bob = new_customer(users), new_customer(users)
    users.update(ann, ProfileChanges(national_id=CPF))
    assert users.update(ann, ProfileChanges(national_id=None)).national_id is None
    assert users.update(bob, ProfileChanges(national_id=CPF)).national_id == CPF


def test_the_repository_refuses_a_second_holder_even_without_the_check(users: Users) -> None:
    ann, bob = new_customer(users), new_customer(users)
    users.update(ann, ProfileChanges(national_id=CPF))
    with pytest.raises(NationalIdTaken), users.unit_of_work() as uow:
        profile = uow.profiles.get_for_update(bob)
        assert profile is not None
        profile.national_id = CPF
        uow.profiles.save(profile)
    assert users.store.profiles[bob].national_id is None


def test_an_invalid_cpf_phone_or_channel_names_its_field_not_its_value() -> None:
    cases = [
        ({"national_id": "123.456.789-00"}, "national_id", "123.456.789-00"),
        ({"national_id": "111.111.111-11"}, "national_id", "111.111.111-11"),
        ({"phone": "+55 21 3333-4444"}, "phone", "3333"),
        ({"notification_channels": ("push",)}, "notification_channels", "push"),
        ({"notification_channels": None}, "notification_channels", "None"),
    ]
    for given, field, value in cases:
        with pytest.raises(InvalidProfileChange) as refused:
            ProfileChanges(**given)
        assert str(refused.value).startswith(field), given
        assert value not in str(refused.value), given


def test_sms_needs_a_phone_and_nothing_is_taken_without_one(users: Users) -> None:
    ann = new_customer(users)
    with pytest.raises(InvalidProfileChange, match=r"^notification_channels: sms needs a phone"):
        users.update(ann, ProfileChanges(notification_channels=("email", "sms"), full_name="X"))
    profile = users.store.profiles[ann]
    assert (profile.notification_channels, profile.full_name) == (("email",), "Ann")
    # With the phone in the same change, or already there, it is taken.
    both = users.update(ann, ProfileChanges(phone="+5511987654321", notification_channels=("sms",)))
    assert (both.phone, both.notification_channels) == ("+5511987654321", ("sms",))
    with pytest.raises(InvalidProfileChange, match=r"^phone cannot be cleared"):
        users.update(ann, ProfileChanges(phone=None))
    assert users.store.profiles[ann].phone == "+5511987654321"
    none = users.update(ann, ProfileChanges(notification_channels=(), phone=None))
    assert (none.phone, none.notification_channels) == (None, ())


def test_a_guest_gets_a_profile_without_contact_then_its_email_and_name(users: Users) -> None:
    guest = str(uuid.uuid4())
    users.guest(guest)
    profile = users.store.profiles[guest]
    assert (profile.email, profile.full_name, profile.guest, profile.roles) == (
        None,
        GUEST_NAME,
        True,
        ("guest",),
    )
    assert profile.notification_channels == ("email",)
    assert users.uows[-1].events() == [
        ProfileUpdated(user_id=guest, full_name=GUEST_NAME, email=None, guest=True)
    ]
    # A guest identifies by CPF at the kiosk, then registers: the same profile, CPF kept.
    users.update(guest, ProfileChanges(national_id=CPF, addresses=(HOME,)))
    users.converted(guest, "ann@example.com", "Ann Lee")
    converted = users.store.profiles[guest]
    assert (converted.email, converted.full_name, converted.guest, converted.roles) == (
        "ann@example.com",
        "Ann Lee",
        False,
        ("customer",),
    )
    assert (converted.national_id, converted.addresses) == (CPF, [HOME])
    assert users.uows[-1].locks == [("user", guest)]
    assert users.uows[-1].events() == [
        ProfileUpdated(user_id=guest, full_name="Ann Lee", email="ann@example.com", guest=False)
    ]


def test_a_guest_registration_delivered_again_changes_nothing(users: Users) -> None:
    guest = str(uuid.uuid4())
    users.guest(guest)
    users.update(guest, ProfileChanges(full_name="Table 4"))
    users.guest(guest)
    assert users.store.profiles[guest].full_name == "Table 4"
    assert users.uows[-1].events() == []


def test_a_conversion_of_a_guest_never_seen_makes_the_profile(users: Users) -> None:
    user_id = str(uuid.uuid4())
    users.converted(user_id, "late@example.com", "Late")
    profile = users.store.profiles[user_id]
    assert (profile.email, profile.full_name, profile.guest) == ("late@example.com", "Late", False)
    assert [type(e) for e in users.uows[-1].events()] == [ProfileUpdated]


def test_roles_follow_the_account_without_an_event(users: Users) -> None:
    ann = new_customer(users)
    users.roles_changed(ann, ["customer", "staff"])
    assert users.store.profiles[ann].roles == ("customer", "staff")
    assert users.uows[-1].locks == [("user", ann)]
    assert users.uows[-1].events() == []
    unknown = str(uuid.uuid4())
    users.roles_changed(unknown, ["staff"])
    assert unknown not in users.store.profiles


def test_profile_updated_goes_out_exactly_when_the_contact_changes(users: Users) -> None:
    ann = new_customer(users)
    email = f"{ann[:8]}@example.com"
    steps: list[tuple[ProfileChanges, ProfileUpdated | None]] = [
        (
            ProfileChanges(phone="+5511987654321", notification_channels=("email", "sms")),
            ProfileUpdated(
                user_id=ann,
                full_name="Ann",
                email=email,
                phone="+5511987654321",
                notification_channels=["email", "sms"],
            ),
        ),
        (
            ProfileChanges(full_name="Ann Lee"),
            ProfileUpdated(
                user_id=ann,
                full_name="Ann Lee",
                email=email,
                phone="+5511987654321",
                notification_channels=["email", "sms"],
            ),
        ),
        # Not the contact: no event.
        (ProfileChanges(national_id=CPF), None),
        (ProfileChanges(addresses=(HOME,)), None),
        # The same values again: nothing changed.
        (ProfileChanges(full_name="Ann Lee", phone="+5511987654321"), None),
        (ProfileChanges(notification_channels=("sms", "email")), None),
    ]
    for changes, expected in steps:
        users.update(ann, changes)
        assert users.uows[-1].events() == ([] if expected is None else [expected]), changes


@pytest.mark.parametrize(
    "changes",
    [
        ProfileChanges(national_id=CPF),
        ProfileChanges(national_id=CPF, full_name="Ann Lee"),
        ProfileChanges(national_id=CPF, phone="+5511987654321", notification_channels=("sms",)),
        ProfileChanges(national_id=None, full_name="Someone"),
    ],
)
def test_no_event_ever_carries_the_cpf(users: Users, changes: ProfileChanges) -> None:
    guest = str(uuid.uuid4())
    users.guest(guest)
    users.update(guest, ProfileChanges(national_id=CPF))
    users.update(guest, changes)
    users.converted(guest, "ann@example.com", "Ann")
    users.roles_changed(guest, ["customer", "staff"])
    published = [p.event for uow in users.uows for p in uow.published]
    assert any(isinstance(event, ProfileUpdated) for event in published)
    for event in published:
        assert "national_id" not in type(event).model_fields
        payload = event.model_dump_json()
        assert CPF not in payload and "national_id" not in payload, payload
