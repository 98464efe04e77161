"""An admin sets an account's roles. Tokens carry roles, and a refresh reads them from the
account, so a change shows in the account's tokens from their next refresh."""

from __future__ import annotations

from dataclasses import dataclass

from auth_service.application.ports import AuthUnitOfWork
from auth_service.domain.errors import AccountNotFound, NotAdmin
from auth_service.domain.model import Account
from auth_service.domain.roles import ADMIN, grantable_roles


@dataclass(frozen=True)
class ChangeRoles:
    """Set the roles of ``user_id``, as the admin ``changed_by`` asks."""

    user_id: str
    roles: tuple[str, ...]
    changed_by: str


def change_roles(command: ChangeRoles, uow: AuthUnitOfWork) -> Account:
    """The account with its new roles; account.roles_changed goes out with them when they
    changed. InvalidRoles, NotAdmin (the caller's account is no admin now, whatever its token
    says), AccountNotFound, GuestRoles, OwnAdminRole: nothing written."""
    roles = grantable_roles(command.roles)
    # Every change of roles in turn: the caller's admin role is checked in the same step as
    # the change, so two admins taking each other's admin role away cannot both succeed.
    uow.accounts.lock_role_changes()
    caller = uow.accounts.get(command.changed_by)
    if caller is None or ADMIN not in caller.roles:
        raise NotAdmin()
    account = uow.accounts.get_for_update(command.user_id)
    if account is None:
        raise AccountNotFound()
    if account.change_roles(roles, changed_by=command.changed_by):
        uow.accounts.save(account)
    return account
