"""Notifications: why one is sent, on which channel, to whom, and where it stands.

A notification is recorded once per consumed event and channel, in the transaction that consumes
the event; the sender delivers it later (application/sender.py), so a slow or failing provider
never holds up or rolls back a consumer. Customers' contacts come from another topic than their
orders, so a notification may be recorded before its recipient is known: it waits for the
contact. Notifications emit no events. Pure Python: no framework, database or transport here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """Why a notification is sent: one per consumed event."""

    WELCOME = "welcome"
    ORDER_CONFIRMED = "order_confirmed"
    ORDER_CANCELLED = "order_cancelled"
    ORDER_REJECTED = "order_rejected"


class Status(StrEnum):
    """PENDING until the provider accepted it (SENT) or we gave up (FAILED)."""

    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"


class Channel(StrEnum):
    """How a notification reaches its customer; each channel has its own sender and its own
    notification per event, so a failing channel never holds up another."""

    EMAIL = "email"


# Where a customer's notifications go while their contact is unknown.
DEFAULT_CHANNELS = (Channel.EMAIL,)


@dataclass(frozen=True, slots=True)
class Mail:
    """What a message says. Never a token or a password: only ids, statuses and amounts."""

    subject: str
    body: str


@dataclass(frozen=True, slots=True)
class Contact:
    """Who a customer is and where their notifications go (learnt from account.registered)."""

    user_id: str
    email: str
    full_name: str

    @property
    def channels(self) -> tuple[Channel, ...]:
        """The channels this customer is notified on."""
        return DEFAULT_CHANNELS

    def address(self, channel: Channel) -> str | None:
        """Where this channel's messages go; None when the customer has no such address."""
        return {Channel.EMAIL: self.email}.get(channel)


@dataclass(frozen=True, slots=True)
class Notification:
    """One message for one consumed event on one channel, as it is recorded."""

    notification_id: str
    event_id: str
    user_id: str
    kind: Kind
    channel: Channel
    recipient: str | None  # None until the customer's contact is known
    message: Mail

    @classmethod
    def new(
        cls,
        *,
        event_id: str,
        user_id: str,
        kind: Kind,
        channel: Channel,
        recipient: str | None,
        message: Mail,
    ) -> Notification:
        """A notification with a fresh id (also its Message-ID, stable across retries)."""
        return cls(str(uuid.uuid4()), event_id, user_id, kind, channel, recipient, message)
