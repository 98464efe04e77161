"""Opening accounts on the fakes: the account and account.registered go together, emails are
one per account whatever their case, the password is kept hashed, the admin comes from
settings once."""

from __future__ import annotations

import pytest

from auth_service.domain.errors import EmailTaken
from contracts.events import AccountRegistered
from tests.auth_service.unit.harness import PASSWORD, Auth


def test_an_account_is_stored_and_announced_together(auth: Auth) -> None:
    account = auth.service.register(email=" Ann@Example.COM ", password=PASSWORD, full_name="Ann")
    assert account.email == "ann@example.com"
    stored = auth.store.accounts[account.user_id]
    assert (stored.email, stored.full_name, stored.roles) == (
        "ann@example.com",
        "Ann",
        ("customer",),
    )
    (registered,) = auth.published(AccountRegistered)
    assert registered.model_dump() == {
        "user_id": account.user_id,
        "email": "ann@example.com",
        "full_name": "Ann",
        "roles": ["customer"],
        "registered_at": stored.registered_at,
    }
    assert registered.aggregate_id == account.user_id


def test_the_account_is_locked_before_it_is_written(auth: Auth) -> None:
    user_id = auth.register("lock@example.com")
    (uow,) = [u for u in auth.uows if u.events(AccountRegistered)]
    assert uow.locks == [("account", user_id)]


def test_the_password_is_kept_only_as_an_argon2id_hash(auth: Auth) -> None:
    user_id = auth.register("hash@example.com")
    password_hash = auth.store.accounts[user_id].password_hash
    assert password_hash is not None
    assert password_hash.startswith("$argon2id$")
    assert PASSWORD not in password_hash
    assert auth.service.passwords.verify(PASSWORD, password_hash)


def test_an_email_registered_in_another_case_is_refused_and_nothing_is_announced(
    auth: Auth,
) -> None:
    auth.register("twice@example.com")
    with pytest.raises(EmailTaken, match="already exists") as refused:
        auth.register("TWICE@example.com", "another-pass-9")
    assert "twice" not in str(refused.value), "the refusal must not name the email"
    assert len(auth.store.accounts) == 1
    assert len(auth.published(AccountRegistered)) == 1


def test_the_admin_from_settings_is_opened_once_with_both_roles(auth: Auth) -> None:
    auth.service.ensure_admin("Admin@Example.com", "Admin-password-1")
    auth.service.ensure_admin("admin@example.com", "Admin-password-1")
    (admin,) = auth.store.accounts.values()
    assert (admin.email, admin.roles) == ("admin@example.com", ("admin", "customer"))
    assert len(auth.published(AccountRegistered)) == 1
    assert auth.service.log_in(
        email="admin@example.com", password="Admin-password-1", address="10.0.0.1"
    ).access_token
