"""Guests on the fakes: a guest is an account without email, name or password, made with its
first session and announced by account.guest_registered; each client address makes a bounded
number of them (a refusal writes nothing and says when to come back); registering with a
guest's token makes that same account the customer (account.guest_converted, its guest sessions
ended), and any other token on register is refused."""

from __future__ import annotations

from datetime import datetime

import pytest

from auth_service.domain.errors import (
    AlreadyRegistered,
    BadCredentials,
    EmailTaken,
    InvalidRefreshToken,
    TooManyGuests,
    UnknownAccount,
    WeakPassword,
)
from contracts.events import AccountRegistered, GuestConverted, GuestRegistered
from servicekit.tokens import Principal
from tests.auth_service.unit.harness import GUESTS, PASSWORD, Auth

KIOSK, HOME = "192.0.2.30", "192.0.2.31"
EMAIL = "ann@example.com"


def as_guest(user_id: str) -> Principal:
    """What a verified guest token says."""
    return Principal(user_id=user_id, roles=frozenset({"guest"}))


def convert(auth: Auth, guest_id: str, email: str = EMAIL, password: str = PASSWORD) -> str:
    account = auth.service.register(
        email=email, password=password, full_name="Ann", caller=as_guest(guest_id)
    )
    return account.user_id


def test_a_guest_is_an_account_with_a_session_and_nothing_else(auth: Auth) -> None:
    user_id, pair = auth.service.create_guest(address=KIOSK)
    stored = auth.store.accounts[user_id]
    assert (stored.email, stored.full_name, stored.password_hash, stored.roles) == (
        None,
        None,
        None,
        ("guest",),
    )
    claims = auth.claims(pair.access_token)
    assert (claims["sub"], claims["roles"]) == (user_id, ["guest"])
    assert "email" not in claims
    assert pair.expires_in == 900
    (registered,) = auth.published(GuestRegistered)
    assert registered.model_dump() == {
        "user_id": user_id,
        "roles": ["guest"],
        "registered_at": stored.registered_at,
    }
    assert auth.published(AccountRegistered) == []
    refreshed = auth.service.refresh(pair.refresh_token)
    assert auth.claims(refreshed.access_token)["roles"] == ["guest"]


def test_an_address_makes_its_share_of_guests_then_waits_and_a_refusal_writes_nothing(
    auth: Auth,
) -> None:
    made = [auth.service.create_guest(address=KIOSK)[0] for _ in range(GUESTS.capacity)]
    with pytest.raises(TooManyGuests) as refused:
        auth.service.create_guest(address=KIOSK)
    assert refused.value.retry_after == 20  # one drains every 60 / 3 s
    assert "too many guest accounts" in str(refused.value)
    assert sorted(auth.store.accounts) == sorted(made)
    assert len(auth.store.refresh_tokens) == GUESTS.capacity
    assert len(auth.published(GuestRegistered)) == GUESTS.capacity
    assert auth.service.create_guest(address=HOME)[0]  # another address has its own bucket
    auth.clock.advance(20)
    assert auth.service.create_guest(address=KIOSK)[0]
    with pytest.raises(TooManyGuests):
        auth.service.create_guest(address=KIOSK)


def test_guests_do_not_count_against_logins_from_the_address(auth: Auth) -> None:
    auth.register(EMAIL)
    for _ in range(GUESTS.capacity):
        auth.service.create_guest(address=KIOSK)
    assert auth.store.address_buckets == {}
    assert auth.service.log_in(email=EMAIL, password=PASSWORD, address=KIOSK).access_token


def test_drained_guest_buckets_are_purged(auth: Auth) -> None:
    auth.service.create_guest(address=KIOSK)
    assert auth.service.purge_guest_throttle() == 0
    auth.clock.advance(GUESTS.window_seconds + 1)
    assert auth.service.purge_guest_throttle() == 1
    assert auth.store.guest_buckets == {}


def test_a_guest_registering_keeps_its_user_id_and_becomes_a_customer(auth: Auth) -> None:
    guest_id, guest_pair = auth.service.create_guest(address=KIOSK)
    guest_pair = auth.service.refresh(guest_pair.refresh_token)  # works until conversion
    assert convert(auth, guest_id, email=" Ann@Example.com ") == guest_id
    stored = auth.store.accounts[guest_id]
    assert (stored.email, stored.full_name, stored.roles) == (EMAIL, "Ann", ("customer",))
    assert stored.password_hash is not None and stored.password_hash.startswith("$argon2id$")
    (converted,) = auth.published(GuestConverted)
    payload = converted.model_dump()
    assert isinstance(payload.pop("converted_at"), datetime)
    assert payload == {
        "user_id": guest_id,
        "email": EMAIL,
        "full_name": "Ann",
        "roles": ["customer"],
    }
    assert auth.published(AccountRegistered) == []
    (uow,) = [u for u in auth.uows if u.events(GuestConverted)]
    assert uow.locks == [("account", guest_id)]
    # The guest's sessions end; the customer logs in, and refreshes as a customer.
    with pytest.raises(InvalidRefreshToken):
        auth.service.refresh(guest_pair.refresh_token)
    pair = auth.service.log_in(email=EMAIL, password=PASSWORD, address=HOME)
    claims = auth.claims(auth.service.refresh(pair.refresh_token).access_token)
    assert (claims["sub"], claims["email"], claims["roles"]) == (guest_id, EMAIL, ["customer"])


def test_a_registered_account_s_token_on_register_is_refused_writing_nothing(auth: Auth) -> None:
    customer_id = auth.register(EMAIL)
    before = dict(auth.store.accounts)
    customer = Principal(user_id=customer_id, roles=frozenset({"customer"}), email=EMAIL)
    with pytest.raises(AlreadyRegistered, match="registered account"):
        auth.service.register(
            email="other@example.com", password=PASSWORD, full_name="B", caller=customer
        )
    assert auth.store.accounts == before


def test_a_guest_converts_once_and_refusals_leave_it_a_guest(auth: Auth) -> None:
    auth.register("taken@example.com")
    guest_id, pair = auth.service.create_guest(address=KIOSK)
    with pytest.raises(EmailTaken):
        convert(auth, guest_id, email="TAKEN@example.com")
    with pytest.raises(WeakPassword):
        convert(auth, guest_id, password="short")
    with pytest.raises(UnknownAccount):
        convert(auth, "6f1c0c1e-0000-4000-8000-000000000000")
    assert auth.store.accounts[guest_id].roles == ("guest",)
    assert auth.published(GuestConverted) == []
    assert auth.service.refresh(pair.refresh_token).access_token  # still a guest's session
    convert(auth, guest_id)
    # Its token still says guest until it expires: converting again is refused.
    with pytest.raises(AlreadyRegistered):
        convert(auth, guest_id, email="again@example.com")
    assert len(auth.published(GuestConverted)) == 1


def test_a_guest_cannot_log_in(auth: Auth) -> None:
    auth.service.create_guest(address=KIOSK)
    with pytest.raises(BadCredentials):
        auth.service.log_in(email="", password="", address=KIOSK)
