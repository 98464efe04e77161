"""What the notification use cases need from persistence and from the providers, as protocols.

The SQL repositories are in adapters/repository.py, the in-memory fakes (for unit tests of the
rules and the sender) in adapters/memory.py, and one contract test suite runs against both. The
SMTP transport is adapters/smtp.py; another channel brings its own transport and sender.
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

    def save(self, contact: Contact) -> None:
        """Insert or update a customer's contact."""
        ...

    def get(self, user_id: str) -> Contact | None:
        """A customer's contact, once their account.registered was seen."""
        ...


class Notifications(Protocol):
    """The notifications the consumed events record."""

    def add(self, notification: Notification) -> bool:
        """Record a PENDING notification, due now; False (and nothing written) when its event
        already has one on its channel: a redelivery."""
        ...

    def release_waiting(self, contact: Contact) -> int:
        """Address the customer's PENDING notifications that had no recipient yet, due now;
        how many."""
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
        ``lease`` seconds: no other sender gets them meanwhile. The recipient falls back to
        the customer's contact for notifications recorded before the contact was known."""
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
    """Hands one channel's messages to its provider (for email, an SMTP server)."""

    def send(self, *, recipient: str, message: Mail, message_id: str) -> None:
        """Deliver one message; ``message_id`` is the same on every attempt (the Message-ID, or
        a provider's idempotency key), so a repeat can be recognised. Raises MessageRefused or
        ChannelUnavailable."""
        ...

    def close(self) -> None:
        """Drop the connection, if any."""
        ...
