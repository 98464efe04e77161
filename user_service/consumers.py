"""The events user_service consumes, each with its handler: the one table of subscriptions."""

from __future__ import annotations

from contracts.events import AccountRegistered, AccountRolesChanged, GuestConverted, GuestRegistered
from servicekit.messaging.inbox import locks_by_payload
from servicekit.messaging.subscriptions import Subscriptions, on
from user_service.adapters.repository import SqlUserUnitOfWork
from user_service.application import handlers
from user_service.domain.model import AGGREGATE

SUBSCRIPTIONS = Subscriptions(
    "user-service",
    on(AccountRegistered, handlers.on_account_registered),
    on(GuestRegistered, handlers.on_guest_registered),
    on(GuestConverted, handlers.on_guest_converted),
    on(AccountRolesChanged, handlers.on_account_roles_changed),
    unit_of_work=SqlUserUnitOfWork.joining,
    # Every handler locks the user its event is about, so several arrive in one transaction.
    batch_locks=locks_by_payload(AGGREGATE, key="user_id"),
)
