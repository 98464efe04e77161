"""Roles on the fakes: only customer, staff and admin are granted (each refusal names the role),
the change and account.roles_changed go together, a token shows the new roles from its next
refresh, an admin cannot take their own admin role away, and an admin whose role was taken away
cannot act on a token older than that, so the platform always keeps an admin."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from auth_service.api.schemas import RolesRequest
from auth_service.domain.errors import (
    AccountNotFound,
    GuestRoles,
    InvalidRoles,
    NotAdmin,
    OwnAdminRole,
)
from auth_service.domain.roles import grantable_roles
from contracts.events import AccountRolesChanged
from tests.auth_service.unit.harness import PASSWORD, Auth

ADDRESS = "192.0.2.20"
NOBODY = "6f1c0c1e-0000-4000-8000-000000000000"


def admin(auth: Auth, email: str = "admin@example.com") -> str:
    """An admin account (as settings make it); returns its user_id."""
    auth.service.ensure_admin(email, PASSWORD)
    account = auth.store.accounts
    return next(user_id for user_id, a in account.items() if a.email == email)


@pytest.mark.parametrize(
    ("roles", "named"),
    [
        (["guest"], "'guest'"),
        (["customer", "root"], "'root'"),
        (["Admin"], "'Admin'"),
        (["superuser", "guest", "staff"], "'guest', 'superuser'"),
        ([], "at least one role"),
    ],
)
def test_only_customer_staff_and_admin_are_granted_and_a_refusal_names_the_role(
    roles: list[str], named: str
) -> None:
    with pytest.raises(InvalidRoles, match=named):
        grantable_roles(roles)


def test_granted_roles_are_kept_once_each_in_one_order() -> None:
    assert grantable_roles(["staff", "customer", "staff"]) == ("customer", "staff")


def test_the_api_refuses_a_role_that_cannot_be_granted_as_the_field_error() -> None:
    with pytest.raises(ValidationError) as refused:
        RolesRequest(roles=["customer", "guest"])
    (error,) = refused.value.errors()
    assert error["loc"] == ("roles",) and "'guest'" in error["msg"]
    with pytest.raises(ValidationError) as empty:
        RolesRequest(roles=[])
    assert empty.value.errors()[0]["loc"] == ("roles",)


def test_an_admin_grants_staff_and_the_change_goes_out_with_it(auth: Auth) -> None:
    admin_id = admin(auth)
    user_id = auth.register("ann@example.com")
    account = auth.service.change_roles(
        user_id=user_id, roles=["staff", "customer"], changed_by=admin_id
    )
    assert account.roles == ("customer", "staff")
    assert auth.store.accounts[user_id].roles == ("customer", "staff")
    (changed,) = auth.published(AccountRolesChanged)
    assert changed.model_dump() == {
        "user_id": user_id,
        "roles": ["customer", "staff"],
        "changed_by": admin_id,
    }
    assert changed.aggregate_id == user_id
    (uow,) = [u for u in auth.uows if u.events(AccountRolesChanged)]
    assert uow.locks == [("account_roles", "all"), ("account", user_id)]


def test_a_token_shows_new_roles_from_its_next_refresh(auth: Auth) -> None:
    admin_id = admin(auth)
    user_id = auth.register("ann@example.com")
    before = auth.service.log_in(email="ann@example.com", password=PASSWORD, address=ADDRESS)
    auth.service.change_roles(user_id=user_id, roles=["customer", "staff"], changed_by=admin_id)
    assert auth.claims(before.access_token)["roles"] == ["customer"]  # issued before
    after = auth.service.refresh(before.refresh_token)
    assert auth.claims(after.access_token)["roles"] == ["customer", "staff"]
    auth.service.change_roles(user_id=user_id, roles=["customer"], changed_by=admin_id)
    again = auth.service.refresh(after.refresh_token)
    assert auth.claims(again.access_token)["roles"] == ["customer"]


def test_the_same_roles_again_change_nothing_and_announce_nothing(auth: Auth) -> None:
    admin_id = admin(auth)
    user_id = auth.register("ann@example.com")
    account = auth.service.change_roles(user_id=user_id, roles=["customer"], changed_by=admin_id)
    assert account.roles == ("customer",)
    assert auth.published(AccountRolesChanged) == []


def test_an_admin_cannot_remove_their_own_admin_role_but_may_add_to_it(auth: Auth) -> None:
    admin_id = admin(auth)
    with pytest.raises(OwnAdminRole, match="their own admin role"):
        auth.service.change_roles(user_id=admin_id, roles=["customer"], changed_by=admin_id)
    assert auth.store.accounts[admin_id].roles == ("admin", "customer")
    assert auth.published(AccountRolesChanged) == []
    auth.service.change_roles(
        user_id=admin_id, roles=["admin", "customer", "staff"], changed_by=admin_id
    )
    assert auth.store.accounts[admin_id].roles == ("admin", "customer", "staff")


def test_an_admin_whose_role_was_taken_cannot_act_on_an_older_token(auth: Auth) -> None:
    # Two admins remove each other's admin role: the second finds itself no admin any more
    # (its token still says admin), so one admin is always left.
    first = admin(auth)
    second = auth.register("second@example.com")
    auth.service.change_roles(user_id=second, roles=["admin", "customer"], changed_by=first)
    auth.service.change_roles(user_id=second, roles=["customer"], changed_by=first)
    with pytest.raises(NotAdmin):
        auth.service.change_roles(user_id=first, roles=["customer"], changed_by=second)
    assert auth.store.accounts[first].roles == ("admin", "customer")
    with pytest.raises(NotAdmin):  # a caller without an account here
        auth.service.change_roles(user_id=second, roles=["customer"], changed_by=NOBODY)


def test_unknown_accounts_guests_and_bad_roles_are_refused_writing_nothing(auth: Auth) -> None:
    admin_id = admin(auth)
    user_id = auth.register("ann@example.com")
    guest_id, _ = auth.service.create_guest(address=ADDRESS)
    before = dict(auth.store.accounts)
    with pytest.raises(AccountNotFound):
        auth.service.change_roles(user_id=NOBODY, roles=["staff"], changed_by=admin_id)
    with pytest.raises(GuestRoles):
        auth.service.change_roles(user_id=guest_id, roles=["customer"], changed_by=admin_id)
    with pytest.raises(InvalidRoles, match="'guest'"):
        auth.service.change_roles(user_id=user_id, roles=["guest"], changed_by=admin_id)
    assert auth.store.accounts == before
    assert auth.published(AccountRolesChanged) == []
