"""Guests: anonymous customers with a session and nothing else, and their registration.

A guest is made in one unit of work with its first session; the client address's bucket counts
it in the same work, so a refused request (429) writes nothing at all. A guest that registers
keeps its user_id, so everything other services keep under that id (orders, payments) stays its
own; its guest sessions end there, and the customer logs in with the new password.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from auth_service.application.commands import Grant, open_session
from auth_service.application.ports import AuthUnitOfWork
from auth_service.domain.errors import TooManyGuests, UnknownAccount
from auth_service.domain.model import Account
from auth_service.domain.throttle import LeakRate, admit_leak
from servicekit.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class CreateGuest:
    """Make a guest for a client at ``address``, at most ``limit`` per address."""

    address: str
    limit: LeakRate
    refresh_ttl: timedelta


@dataclass(frozen=True)
class ConvertGuest:
    """The guest of a verified token registers. The password arrives hashed (slow by design,
    outside any transaction)."""

    user_id: str
    email: str
    full_name: str
    password_hash: str


def create_guest(command: CreateGuest, uow: AuthUnitOfWork) -> Grant:
    """A new guest and its session; account.guest_registered goes out with it. TooManyGuests
    (nothing written) when the address made its share of guests lately."""
    guest = Account.register_guest(user_id=str(uuid.uuid4()), registered_at=datetime.now(UTC))
    # The account first: its lock must come before the work's first write (the bucket's).
    uow.accounts.add(guest)
    buckets = uow.guest_throttle
    bucket = buckets.lock(command.address)
    admission, bucket = admit_leak(bucket, buckets.now(), command.limit)
    if not admission.allowed:
        log.warning("guest_creation_throttled", retry_after=admission.retry_after_seconds)
        raise TooManyGuests(admission.retry_after_seconds)  # rolls the guest back too
    buckets.save(command.address, bucket)
    return open_session(uow, guest, str(uuid.uuid4()), command.refresh_ttl)


def convert_guest(command: ConvertGuest, uow: AuthUnitOfWork) -> Account:
    """The guest becomes a customer under the same user_id; account.guest_converted goes out
    with it and every guest session ends. AlreadyRegistered when the account is no guest (any
    more), EmailTaken when another account has the email: nothing written either way."""
    account = uow.accounts.get_for_update(command.user_id)
    if account is None:
        raise UnknownAccount()
    account.convert(
        email=command.email,
        full_name=command.full_name,
        password_hash=command.password_hash,
        converted_at=datetime.now(UTC),
    )
    uow.accounts.save(account)
    # The guest's tokens may sit on a shared device (a kiosk): they must not open the
    # registered account.
    uow.refresh_tokens.revoke_user(account.user_id)
    return account
