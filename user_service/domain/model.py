"""A user's profile: how the platform addresses, identifies and reaches them and where it
delivers. Pure Python: no framework, database or broker.

A profile is made once per account, from ``account.registered`` (a customer with an email) or
``account.guest_registered`` (a guest: no email, named "Guest"); a guest's profile gets its email
and name when the guest registers (``account.guest_converted``), and its roles follow the
account's (``account.roles_changed``). Its owner changes it one field at a time: what a change does
not name stays as it was.

Whenever the contact changes (name, email, phone, channels, guest or not, and when the profile is
made) the profile records ``user.profile_updated`` for the services that notify customers. The
CPF (``national_id``) identifies a customer and is personal data: it is never in that event, nor
in any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from contracts.events import ProfileUpdated
from servicekit.messaging.envelope import Event
from user_service.domain.contact import (
    DEFAULT_CHANNELS,
    check_channels,
    check_phone,
    parse_national_id,
)
from user_service.domain.errors import InvalidProfileChange

# The aggregate lock's name: profile events travel as user.* (user.events).
AGGREGATE = "user"

# What a guest's profile is called until the guest registers: a guest gives no name.
GUEST_NAME = "Guest"


class Unchanged(Enum):
    """A field a change does not name."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


@dataclass(frozen=True, slots=True)
class Address:
    """A delivery address."""

    street: str
    number: str
    city: str
    state: str
    country: str
    zipcode: str


@dataclass(frozen=True, kw_only=True)
class ProfileChanges:
    """What a change names: a new name, a new phone (None clears it), new addresses (None
    clears them), a CPF (None clears it), the notification channels; every other field stays as
    it is. Each value is checked (and the CPF reduced to its digits) when the change is made."""

    full_name: str | Unchanged | None = UNCHANGED
    phone: str | Unchanged | None = UNCHANGED
    addresses: tuple[Address, ...] | Unchanged | None = UNCHANGED
    national_id: str | Unchanged | None = UNCHANGED
    notification_channels: tuple[str, ...] | Unchanged | None = UNCHANGED

    def __post_init__(self) -> None:
        if self.full_name is None:
            raise InvalidProfileChange("full_name cannot be null")
        if self.notification_channels is None:
            raise InvalidProfileChange(
                "notification_channels cannot be null (an empty list means none)"
            )
        # Each field's message names it, never its value.
        try:
            if isinstance(self.phone, str):
                check_phone(self.phone)
        except ValueError as exc:
            raise InvalidProfileChange(f"phone {exc}") from None
        try:
            if isinstance(self.national_id, str):
                object.__setattr__(self, "national_id", parse_national_id(self.national_id))
        except ValueError as exc:
            raise InvalidProfileChange(f"national_id {exc}") from None
        try:
            if isinstance(self.notification_channels, tuple):
                channels = check_channels(self.notification_channels)
                object.__setattr__(self, "notification_channels", channels)
        except ValueError as exc:
            raise InvalidProfileChange(f"notification_channels: {exc}") from None

    @property
    def named(self) -> list[str]:
        """The fields it names, in declaration order."""
        return [name for name in _CHANGEABLE if getattr(self, name) is not UNCHANGED]

    @property
    def empty(self) -> bool:
        """True when it names no field."""
        return not self.named


_CHANGEABLE = ("full_name", "phone", "addresses", "national_id", "notification_channels")


@dataclass
class Profile:
    """One user's profile, and the events its changes recorded."""

    user_id: str
    email: str | None  # None for a guest, until the guest registers
    full_name: str
    phone: str | None = None
    addresses: list[Address] = field(default_factory=list)
    national_id: str | None = None  # the CPF's 11 digits
    notification_channels: tuple[str, ...] = DEFAULT_CHANNELS
    roles: tuple[str, ...] = ("customer",)
    guest: bool = False
    events: list[Event] = field(default_factory=list)

    @classmethod
    def register(
        cls, *, user_id: str, email: str, full_name: str, roles: tuple[str, ...] = ("customer",)
    ) -> Profile:
        """The profile of a new account: its name, email and roles, nothing else yet."""
        profile = cls(user_id=user_id, email=email, full_name=full_name, roles=roles)
        profile._contact_changed()
        return profile

    @classmethod
    def register_guest(cls, *, user_id: str, roles: tuple[str, ...] = ("guest",)) -> Profile:
        """The profile of a guest: no email, called "Guest" until it registers."""
        profile = cls(user_id=user_id, email=None, full_name=GUEST_NAME, roles=roles, guest=True)
        profile._contact_changed()
        return profile

    def convert(self, *, email: str, full_name: str, roles: tuple[str, ...]) -> None:
        """The guest registered: the same profile, now with the account's email and name. The
        email comes from the account and is set once: a profile that has one keeps it."""
        before = self._contact()
        self.email = self.email or email
        self.full_name = full_name
        self.roles = roles
        self.guest = False
        if self._contact() != before:
            self._contact_changed()

    def change_roles(self, roles: tuple[str, ...]) -> None:
        """The account's roles changed (no contact changes: nothing to announce)."""
        self.roles = roles

    def change(self, changes: ProfileChanges) -> None:
        """Take the fields the change names; InvalidProfileChange (and nothing taken) when the
        result would notify by SMS without a phone."""
        phone = self.phone if changes.phone is UNCHANGED else changes.phone
        channels = (
            changes.notification_channels
            if isinstance(changes.notification_channels, tuple)
            else self.notification_channels
        )
        if "sms" in channels and phone is None:
            raise InvalidProfileChange(
                "notification_channels: sms needs a phone (give phone in the same change)"
                if changes.phone is UNCHANGED
                else "phone cannot be cleared while notification_channels include sms"
            )
        before = self._contact()
        if isinstance(changes.full_name, str):
            self.full_name = changes.full_name
        self.phone = phone
        self.notification_channels = channels
        if changes.addresses is not UNCHANGED:
            self.addresses = list(changes.addresses or ())
        if changes.national_id is not UNCHANGED:
            self.national_id = changes.national_id
        if self._contact() != before:
            self._contact_changed()

    def _contact(self) -> tuple[object, ...]:
        return (self.full_name, self.email, self.phone, self.notification_channels, self.guest)

    def _contact_changed(self) -> None:
        # Named fields only: the national id must never reach an event.
        self.events.append(
            ProfileUpdated(
                user_id=self.user_id,
                full_name=self.full_name,
                email=self.email,
                phone=self.phone,
                notification_channels=list(self.notification_channels),
                guest=self.guest,
            )
        )
