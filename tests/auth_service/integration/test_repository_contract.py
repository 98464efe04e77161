"""One contract for the auth repositories, run against PostgreSQL (adapters/repository.py,
login_throttle.py, keys.py) and against the in-memory fakes (adapters/memory.py) the unit tests
rely on: if the fakes drift from the database's behaviour, this fails."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

from auth_service.adapters.key_encryption import KeyEncryptionKeys
from auth_service.adapters.memory import AuthStore, InMemoryAuthUnitOfWork, KeptKey
from auth_service.adapters.repository import SqlAuthUnitOfWork
from auth_service.application import signing_keys
from auth_service.application.ports import AuthUnitOfWork, KeyEncryptionError, StoredKey
from auth_service.domain.errors import EmailTaken
from auth_service.domain.model import Account, RefreshToken
from auth_service.domain.throttle import Leak, Lockout
from servicekit.messaging.unit_of_work import Cause, transaction
from tests.support import scratch_database, sqlalchemy_url

pytestmark = pytest.mark.integration

UnitOfWork = Callable[[], AbstractContextManager[AuthUnitOfWork]]
OLD_KEK, NEW_KEK = Fernet.generate_key().decode(), Fernet.generate_key().decode()
KEK = KeyEncryptionKeys.from_setting(SecretStr(OLD_KEK))
DAY = timedelta(days=1)


class Harness:
    """Units of work on one side, and what the test needs to see or set behind them."""

    def __init__(
        self,
        unit_of_work: UnitOfWork,
        outbox: Callable[[], list[tuple[str, str]]],
        add_plaintext_key: Callable[[str, str, dict[str, Any]], None],
    ) -> None:
        self.unit_of_work = unit_of_work
        self.outbox = outbox  # (aggregate_id, event_type) of every event written, in order
        self.add_plaintext_key = add_plaintext_key


@pytest.fixture(scope="module")
def database(engines: None) -> Iterator[str]:
    with scratch_database("auth", migrations="auth_service") as url:
        yield url


@pytest.fixture(params=["postgresql", "memory"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "memory":
        store = AuthStore()
        written: list[InMemoryAuthUnitOfWork] = []

        def unit_of_work() -> InMemoryAuthUnitOfWork:
            written.append(InMemoryAuthUnitOfWork(store, Cause("c")))
            return written[-1]

        def plaintext(kid: str, pem: str, jwk: dict[str, Any]) -> None:
            store.signing_keys[kid] = KeptKey(StoredKey(kid, jwk, None, pem), created=0)

        yield Harness(
            unit_of_work,
            lambda: [(e.aggregate_id, e.event_type) for uow in written for e in uow.events()],
            plaintext,
        )
        return
    url = request.getfixturevalue("database")
    engine = create_engine(sqlalchemy_url(url))
    with engine.begin() as conn:  # every test starts from empty tables
        conn.execute(
            text(
                "TRUNCATE accounts, refresh_tokens, signing_keys, login_account_lockouts,"
                " login_known_addresses, login_address_buckets, guest_address_buckets, outbox"
            )
        )
    sessions = sessionmaker(engine, expire_on_commit=False)

    def outbox() -> list[tuple[str, str]]:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT aggregate_id, event_type FROM outbox ORDER BY id"))
            return [(row[0], row[1]) for row in rows]

    def insert_in_clear(kid: str, pem: str, jwk: dict[str, Any]) -> None:
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO signing_keys (kid, private_pem, public_jwk) VALUES (:k, :p, :j)"),
                {"k": kid, "p": pem, "j": json.dumps(jwk)},
            )

    yield Harness(lambda: transaction(sessions, SqlAuthUnitOfWork), outbox, insert_in_clear)
    engine.dispose()


def new_account(email: str | None = None) -> Account:
    return Account.register(
        user_id=str(uuid.uuid4()),
        email=email or f"a-{uuid.uuid4().hex[:10]}@example.com",
        full_name="Ann",
        password_hash="$argon2id$not-a-real-hash",
        roles=("admin", "customer"),
        registered_at=datetime.now(UTC).replace(microsecond=123456),
    )


# -- accounts -----------------------------------------------------------------------------------


def test_an_added_account_loads_back_and_its_event_is_written_with_it(harness: Harness) -> None:
    account = new_account()
    with harness.unit_of_work() as uow:
        uow.accounts.add(account)
    with harness.unit_of_work() as uow:
        by_email = uow.accounts.by_email(account.email)
        by_id = uow.accounts.get(account.user_id)
        assert uow.accounts.by_email("nobody@example.com") is None
        assert uow.accounts.get(str(uuid.uuid4())) is None
    for loaded in (by_email, by_id):
        assert loaded == Account(
            account.user_id,
            account.email,
            "Ann",
            "$argon2id$not-a-real-hash",
            ("admin", "customer"),
            account.registered_at,
        )
    assert harness.outbox() == [(account.user_id, "account.registered")]


def test_a_taken_email_is_refused_and_the_first_account_stays(harness: Harness) -> None:
    first = new_account()
    with harness.unit_of_work() as uow:
        uow.accounts.add(first)
    with pytest.raises(EmailTaken), harness.unit_of_work() as uow:
        uow.accounts.add(new_account(first.email))
    with harness.unit_of_work() as uow:
        found = uow.accounts.by_email(first.email)
    assert found is not None and found.user_id == first.user_id
    assert harness.outbox() == [(first.user_id, "account.registered")]


def test_a_rolled_back_unit_of_work_leaves_nothing(harness: Harness) -> None:
    account = new_account()
    with pytest.raises(RuntimeError), harness.unit_of_work() as uow:
        uow.accounts.add(account)
        uow.login_throttle.lock_account(account.email)
        raise RuntimeError("the use case failed")
    with harness.unit_of_work() as uow:
        assert uow.accounts.get(account.user_id) is None
        assert uow.login_throttle.lock_account(account.email) == Lockout()
    assert harness.outbox() == []


def new_guest() -> Account:
    return Account.register_guest(
        user_id=str(uuid.uuid4()), registered_at=datetime.now(UTC).replace(microsecond=654321)
    )


def test_guests_have_no_email_name_or_password_and_never_collide(harness: Harness) -> None:
    guest, another = new_guest(), new_guest()
    with harness.unit_of_work() as uow:
        uow.accounts.add(guest)
        uow.accounts.add(another)  # no email, so no unique email to collide on
    with harness.unit_of_work() as uow:
        loaded = uow.accounts.get(guest.user_id)
    assert loaded == Account(guest.user_id, None, None, None, ("guest",), guest.registered_at)
    assert harness.outbox() == [
        (guest.user_id, "account.guest_registered"),
        (another.user_id, "account.guest_registered"),
    ]


def test_an_account_loaded_for_update_is_saved_and_its_events_go_with_it(
    harness: Harness,
) -> None:
    guest, admin = new_guest(), new_account()
    email = f"conv-{uuid.uuid4().hex[:10]}@example.com"
    with harness.unit_of_work() as uow:
        uow.accounts.add(guest)
    with harness.unit_of_work() as uow:
        account = uow.accounts.get_for_update(guest.user_id)
        assert account is not None and account.is_guest
        assert uow.accounts.get_for_update(str(uuid.uuid4())) is None
        account.convert(
            email=email,
            full_name="Ann",
            password_hash="$argon2id$converted",
            converted_at=datetime.now(UTC),
        )
        uow.accounts.save(account)
    with harness.unit_of_work() as uow:
        converted = uow.accounts.get(guest.user_id)
        assert uow.accounts.by_email(email) == converted
        account = uow.accounts.get_for_update(guest.user_id)
        assert account is not None
        uow.accounts.lock_role_changes()
        assert account.change_roles(("staff", "customer"), changed_by=admin.user_id)
        uow.accounts.save(account)
    with harness.unit_of_work() as uow:
        staff = uow.accounts.get(guest.user_id)
    assert converted == Account(
        guest.user_id, email, "Ann", "$argon2id$converted", ("customer",), guest.registered_at
    )
    assert staff is not None and staff.roles == ("customer", "staff")
    assert harness.outbox() == [
        (guest.user_id, "account.guest_registered"),
        (guest.user_id, "account.guest_converted"),
        (guest.user_id, "account.roles_changed"),
    ]


def test_saving_an_email_another_account_holds_is_refused_and_writes_nothing(
    harness: Harness,
) -> None:
    holder, guest = new_account(), new_guest()
    with harness.unit_of_work() as uow:
        uow.accounts.add(holder)
        uow.accounts.add(guest)
    with pytest.raises(EmailTaken), harness.unit_of_work() as uow:
        account = uow.accounts.get_for_update(guest.user_id)
        assert account is not None
        account.convert(
            email=holder.email or "",
            full_name="Thief",
            password_hash="$argon2id$x",
            converted_at=datetime.now(UTC),
        )
        uow.accounts.save(account)
    with harness.unit_of_work() as uow:
        still = uow.accounts.get(guest.user_id)
        assert uow.accounts.by_email(holder.email or "") == uow.accounts.get(holder.user_id)
    assert still is not None and still.is_guest and still.email is None
    assert harness.outbox() == [
        (holder.user_id, "account.registered"),
        (guest.user_id, "account.guest_registered"),
    ]


# -- refresh tokens ------------------------------------------------------------------------------


def token(account: Account, family_id: str, *, expires_in: timedelta = DAY) -> RefreshToken:
    return RefreshToken(
        token_id=str(uuid.uuid4()),
        family_id=family_id,
        user_id=account.user_id,
        token_hash=uuid.uuid4().hex,
        expires_at=datetime.now(UTC).replace(microsecond=0) + expires_in,
    )


def test_refresh_tokens_are_found_by_hash_rotated_and_revoked_by_family(harness: Harness) -> None:
    account = new_account()
    family, other = str(uuid.uuid4()), str(uuid.uuid4())
    first, second, elsewhere = token(account, family), token(account, family), token(account, other)
    with harness.unit_of_work() as uow:
        uow.accounts.add(account)
        for each in (first, second, elsewhere):
            uow.refresh_tokens.add(each)
    rotated_at = datetime.now(UTC).replace(microsecond=0)
    with harness.unit_of_work() as uow:
        assert uow.refresh_tokens.get_for_update(first.token_hash) == first
        assert uow.refresh_tokens.get_for_update("unknown") is None
        assert uow.refresh_tokens.family_of(second.token_hash) == family
        assert uow.refresh_tokens.family_of("unknown") is None
        uow.refresh_tokens.mark_rotated(first.token_id, rotated_at)
    with harness.unit_of_work() as uow:
        uow.refresh_tokens.revoke_family(family)
    with harness.unit_of_work() as uow:
        once = uow.refresh_tokens.get_for_update(first.token_hash)
        uow.refresh_tokens.revoke_family(family)  # again: the first revocation's time stays
    with harness.unit_of_work() as uow:
        loaded = [uow.refresh_tokens.get_for_update(t.token_hash) for t in (first, second)]
        untouched = uow.refresh_tokens.get_for_update(elsewhere.token_hash)
    assert once is not None and once.rotated_at == rotated_at and once.revoked_at is not None
    assert loaded[0] == once
    assert loaded[1] is not None and loaded[1].spent and loaded[1].rotated_at is None
    assert untouched == elsewhere


def test_revoking_an_accounts_tokens_leaves_every_other_account_s(harness: Harness) -> None:
    account, other = new_account(), new_account()
    mine = [token(account, str(uuid.uuid4())) for _ in range(2)]
    theirs = token(other, str(uuid.uuid4()))
    with harness.unit_of_work() as uow:
        uow.accounts.add(account)
        uow.accounts.add(other)
        for each in (*mine, theirs):
            uow.refresh_tokens.add(each)
    with harness.unit_of_work() as uow:
        assert uow.refresh_tokens.revoke_user(account.user_id) == 2
    with harness.unit_of_work() as uow:
        assert uow.refresh_tokens.revoke_user(account.user_id) == 0  # already revoked
        loaded = [uow.refresh_tokens.get_for_update(t.token_hash) for t in mine]
        untouched = uow.refresh_tokens.get_for_update(theirs.token_hash)
    assert all(t is not None and t.revoked_at is not None for t in loaded)
    assert untouched == theirs


# -- the login throttle's buckets ----------------------------------------------------------------


def test_buckets_are_made_on_first_lock_and_keep_what_was_saved(harness: Harness) -> None:
    email, address = f"t-{uuid.uuid4().hex[:8]}@example.com", "192.0.2.44"
    at = datetime.now(UTC).replace(microsecond=0)
    with harness.unit_of_work() as uow:
        throttle = uow.login_throttle
        fresh = throttle.lock_address_bucket(address)
        assert fresh.level == 0.0 and fresh.updated_at is not None
        assert throttle.lock_account(email) == Lockout()
        throttle.save_address_bucket(address, Leak(3.5, at))
        throttle.save_account(email, Lockout(6, at + timedelta(seconds=2), at))
        throttle.save_account("never-locked@example.com", Lockout(9, None, at))  # no row: nothing
        assert abs((throttle.now() - datetime.now(UTC)).total_seconds()) < 60
    with harness.unit_of_work() as uow:
        assert uow.login_throttle.lock_address_bucket(address) == Leak(3.5, at)
        assert uow.login_throttle.lock_account(email) == Lockout(6, at + timedelta(seconds=2), at)
        assert uow.login_throttle.lock_account("never-locked@example.com") == Lockout()


def test_an_address_is_known_from_a_login_until_it_is_not_used_for_known_for(
    harness: Harness,
) -> None:
    email, home, old = f"k-{uuid.uuid4().hex[:8]}@example.com", "192.0.2.1", "192.0.2.2"
    now = datetime.now(UTC).replace(microsecond=0)
    with harness.unit_of_work() as uow:
        assert uow.login_throttle.lock_known_address(email, home, known_for=30 * DAY) is None
        uow.login_throttle.remember_address(email, home, now)
        uow.login_throttle.remember_address(email, old, now - 31 * DAY)
    with harness.unit_of_work() as uow:
        throttle = uow.login_throttle
        assert throttle.lock_known_address(email, home, known_for=30 * DAY) == Lockout()
        assert throttle.lock_known_address(email, old, known_for=30 * DAY) is None
        assert throttle.lock_known_address(email, old, known_for=32 * DAY) == Lockout()
        throttle.save_known_address(email, home, Lockout(2, None, now))
    with harness.unit_of_work() as uow:
        known = uow.login_throttle.lock_known_address(email, home, known_for=30 * DAY)
        assert known == Lockout(2, None, now)
        uow.login_throttle.remember_address(email, home, now)  # a login: a clean slate
    with harness.unit_of_work() as uow:
        assert uow.login_throttle.lock_known_address(email, home, known_for=30 * DAY) == Lockout()


def test_purge_deletes_what_holds_nothing_back_and_keeps_the_rest(harness: Harness) -> None:
    now = datetime.now(UTC)
    long_ago = now - timedelta(hours=2)
    with harness.unit_of_work() as uow:
        throttle = uow.login_throttle
        for email in ("idle@x.org", "locked@x.org", "recent@x.org", "untried@x.org"):
            throttle.lock_account(email)
        throttle.save_account("idle@x.org", Lockout(3, None, long_ago))
        throttle.save_account("locked@x.org", Lockout(9, now + timedelta(hours=1), long_ago))
        throttle.save_account("recent@x.org", Lockout(1, None, now))
        for address in ("192.0.2.1", "192.0.2.2"):
            throttle.lock_address_bucket(address)
        throttle.save_address_bucket("192.0.2.1", Leak(5.0, long_ago))
        throttle.save_address_bucket("192.0.2.2", Leak(5.0, now))
        throttle.remember_address("idle@x.org", "192.0.2.1", now - 40 * DAY)
        throttle.remember_address("idle@x.org", "192.0.2.2", now - 40 * DAY)
        throttle.save_known_address(
            "idle@x.org", "192.0.2.2", Lockout(9, now + timedelta(hours=1), now)
        )
        throttle.remember_address("idle@x.org", "192.0.2.3", now)
    with harness.unit_of_work() as uow:
        deleted = uow.login_throttle.purge(window=timedelta(minutes=15), known_for=30 * DAY)
    # idle@ and untried@ (never failed), one address bucket, one known address.
    assert deleted == 4
    with harness.unit_of_work() as uow:
        throttle = uow.login_throttle
        assert throttle.lock_account("idle@x.org") == Lockout()
        assert throttle.lock_account("locked@x.org").failures == 9
        assert throttle.lock_account("recent@x.org").failures == 1
        assert throttle.lock_address_bucket("192.0.2.1").level == 0.0
        assert throttle.lock_address_bucket("192.0.2.2").level == 5.0
        assert throttle.lock_known_address("idle@x.org", "192.0.2.2", known_for=50 * DAY)
        assert throttle.lock_known_address("idle@x.org", "192.0.2.1", known_for=50 * DAY) is None
        assert throttle.lock_known_address("idle@x.org", "192.0.2.3", known_for=DAY)


def test_guest_buckets_are_apart_from_login_buckets_and_drained_ones_go(
    harness: Harness,
) -> None:
    busy, idle = "192.0.2.60", "192.0.2.61"
    now = datetime.now(UTC).replace(microsecond=0)
    with harness.unit_of_work() as uow:
        guests = uow.guest_throttle
        fresh = guests.lock(busy)
        assert fresh.level == 0.0 and fresh.updated_at is not None
        guests.save(busy, Leak(2.0, now))
        guests.lock(idle)
        guests.save(idle, Leak(4.0, now - timedelta(hours=2)))
        guests.save("192.0.2.62", Leak(9.0, now))  # no row: nothing
        assert abs((guests.now() - datetime.now(UTC)).total_seconds()) < 60
    with harness.unit_of_work() as uow:
        assert uow.login_throttle.lock_address_bucket(busy).level == 0.0  # a bucket of its own
        assert uow.guest_throttle.lock(busy) == Leak(2.0, now)
        assert uow.guest_throttle.purge(window=timedelta(minutes=10)) == 1
    with harness.unit_of_work() as uow:
        assert uow.guest_throttle.lock(idle).level == 0.0
        assert uow.guest_throttle.lock("192.0.2.62").level == 0.0


# -- signing keys ---------------------------------------------------------------------------------


def test_the_first_key_is_made_once_and_opens_under_the_kek(harness: Harness) -> None:
    with harness.unit_of_work() as uow:
        signing_keys.ensure_signing_key(uow.signing_keys, KEK)
    with harness.unit_of_work() as uow:
        signing_keys.ensure_signing_key(uow.signing_keys, KEK)
        (stored,) = uow.signing_keys.stored()
        assert uow.signing_keys.published() == [stored]
        assert uow.signing_keys.in_clear() == []
        newest, jwks = signing_keys.load_keys(uow.signing_keys, KEK)
    assert stored.private_pem is None and stored.private_key_encrypted is not None
    assert newest.kid == stored.kid and [k["kid"] for k in jwks["keys"]] == [stored.kid]


def test_newer_keys_come_first_and_retired_ones_stop_being_published(harness: Harness) -> None:
    with harness.unit_of_work() as uow:
        first = signing_keys.add_key(uow.signing_keys, KEK)
    with harness.unit_of_work() as uow:
        second = signing_keys.add_key(uow.signing_keys, KEK)
    with harness.unit_of_work() as uow:
        assert [key.kid for key in uow.signing_keys.stored()] == [second, first]
        assert signing_keys.retire_all_but_newest(uow.signing_keys) == 1
    with harness.unit_of_work() as uow:
        assert [key.kid for key in uow.signing_keys.published()] == [second]
        assert [key.kid for key in uow.signing_keys.stored(for_update=True)] == [second, first]
        assert uow.signing_keys.retire_all_but(second) == 0


def test_a_key_kept_in_clear_is_encrypted_and_a_new_kek_takes_over(harness: Harness) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    harness.add_plaintext_key("legacy", pem, {**jwk, "kid": "legacy"})
    with harness.unit_of_work() as uow:
        (in_clear,) = uow.signing_keys.in_clear()
        assert (in_clear.kid, in_clear.private_pem) == ("legacy", pem)
        assert signing_keys.encrypt_plaintext_keys(uow.signing_keys, KEK) == 1
    rotated = KeyEncryptionKeys.from_setting(SecretStr(f"{NEW_KEK},{OLD_KEK}"))
    with harness.unit_of_work() as uow:
        (stored,) = uow.signing_keys.stored()
        assert stored.private_pem is None and stored.private_key_encrypted is not None
        assert KEK.decrypt(stored.private_key_encrypted).decode() == pem
        assert signing_keys.reencrypt_all(uow.signing_keys, rotated) == 1
    new_only = KeyEncryptionKeys.from_setting(SecretStr(NEW_KEK))
    with harness.unit_of_work() as uow:
        newest, _ = signing_keys.load_keys(uow.signing_keys, new_only)
        assert newest.kid == "legacy"
        with pytest.raises(KeyEncryptionError, match="legacy"):
            signing_keys.load_keys(uow.signing_keys, KEK)
