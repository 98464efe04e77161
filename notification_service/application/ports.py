"""What the notification use cases need from persistence and from the providers, as protocols.

The SQL repositories are in adapters/repository.py, the in-memory fakes (for unit tests of the
rules and the sender) in adapters/memory.py, and one contract test suite runs against both. The
transports are adapters/smtp.py (email) and adapters/sms.py (SMS); each channel has its own
sender.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from notification_service.domain.delivery import Delivery, Outcome
from notification_service.domain.model import Channel, Contact, Mail, Notification
from servicekit.messaging.unit_of_work import UnitOfWorkPort


class Contacts(Protocol):
    """Who each customer is and where their notifications go."""

    def learn(self, contact: Contact) -> None:
        """What auth's account events tell (registered, guest registered): insert it, or take
        its name, email and guest flag while no profile was seen (a profile knows better)."""
        ...

    def convert(self, contact: Contact) -> None:
        """A guest registered: no longer a guest, with this name and, if it had none, email;
        insert it if unknown."""
        ...

    def save(self, contact: Contact) -> None:
        """What user.profile_updated tells: the whole contact, channels and phone included."""
        ...

    def get(self, user_id: str) -> Contact | None:
        """A customer's contact, once an account or profile event about them was seen."""
        ...


class Notifications(Protocol):
    """The notifications the consumed events record."""

    def add(self, notification: Notification) -> bool:
        """Record a notification (PENDING and due now; SENT if in the app); False (and nothing
        written) when its event already has one on its channel: a redelivery."""
        ...

    def settle_waiting(self, contact: Contact) -> int:
        """Settle the customer's PENDING notifications that had no recipient yet, as the contact
        says (Contact.settle): addressed and due now, moved to the app, or skipped; how many."""
        ...


@dataclass(frozen=True, slots=True)
class Claim:
    """The notifications a sender claimed, and when the next other one of the channel is due."""

    deliveries: list[Delivery]
    next_due_in: float | None  # seconds, <= 0 when due now; None when no other is PENDING


class Deliveries(Protocol):
    """The senders' side of the notifications: claiming due ones, recording what came of them."""

    def claim(self, channel: Channel, *, limit: int, lease: float) -> Claim:
        """Claim up to ``limit`` due notifications of ``channel``, oldest due first, for
        ``lease`` seconds: no other sender gets them meanwhile. A notification without a
        recipient comes with its customer's contact, if known (saved while it was recorded)."""
        ...

    def record(self, outcomes: Sequence[Outcome]) -> None:
        """Write each outcome. A notification no longer PENDING is left alone; so is one whose
        claim ended meanwhile (claimed again, or addressed and due at once), unless it was sent."""
        ...

    def release(self, deliveries: Sequence[Delivery]) -> None:
        """Give back claimed notifications that were not attempted: due again now."""
        ...


class NotificationUnitOfWork(UnitOfWorkPort, Protocol):
    """What every notification use case works with."""

    @property
    def contacts(self) -> Contacts:
        """The customers' contacts."""
        ...

    @property
    def notifications(self) -> Notifications:
        """The notifications, as the consumers record them."""
        ...

    @property
    def deliveries(self) -> Deliveries:
        """The notifications, as the senders deliver them."""
        ...


class DeliveryError(Exception):
    """A transport could not deliver a message."""


class MessageRefused(DeliveryError):
    """The provider refused this one message; the channel itself works."""


class ChannelUnavailable(DeliveryError):
    """The provider could not be reached: nothing more goes out on this channel for now."""


class Transport(Protocol):
    """Hands one channel's messages to its provider (an SMTP server, an SMS provider's API)."""

    def send(self, *, recipient: str, message: Mail, message_id: str) -> None:
        """Deliver one message; ``message_id`` is the same on every attempt (the Message-ID, or
        a provider's idempotency key), so a repeat can be recognised. Raises MessageRefused or
        ChannelUnavailable."""
        ...

    def close(self) -> None:
        """Drop the connection, if any."""
        ...
