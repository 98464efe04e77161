"""A user's profile: how the platform addresses them and where it delivers. Pure Python: no
framework, database or broker.

A profile is made once per account, from ``account.registered``, and then changed by its owner
one field at a time: what a change does not name stays as it was. What the profile decides is
recorded as event objects of the catalog in ``events``; the unit of work publishes them with
the change (none yet).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from servicekit.messaging.envelope import Event
from user_service.domain.errors import InvalidProfileChange

# The aggregate lock's name: profile events travel as user.* (user.events).
AGGREGATE = "user"


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
    clears them); every other field stays as it is."""

    full_name: str | Unchanged | None = UNCHANGED
    phone: str | Unchanged | None = UNCHANGED
    addresses: tuple[Address, ...] | Unchanged | None = UNCHANGED

    def __post_init__(self) -> None:
        if self.full_name is None:
            raise InvalidProfileChange("full_name cannot be null")

    @property
    def empty(self) -> bool:
        """True when it names no field."""
        return all(value is UNCHANGED for value in (self.full_name, self.phone, self.addresses))


@dataclass
class Profile:
    """One user's profile, and the events its changes recorded."""

    user_id: str
    email: str
    full_name: str
    phone: str | None = None
    addresses: list[Address] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    @classmethod
    def register(cls, *, user_id: str, email: str, full_name: str) -> Profile:
        """The profile of a new account: its name and email, nothing else yet."""
        return cls(user_id=user_id, email=email, full_name=full_name)

    def change(self, changes: ProfileChanges) -> None:
        """Take the fields the change names."""
        if isinstance(changes.full_name, str):
            self.full_name = changes.full_name
        if changes.phone is not UNCHANGED:
            self.phone = changes.phone
        if changes.addresses is not UNCHANGED:
            self.addresses = list(changes.addresses or ())
