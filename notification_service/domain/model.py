"""Notifications: why one is sent, on which channel, to whom, and where it stands.

A notification is recorded once per consumed event and channel, in the transaction that consumes
the event; each channel's sender delivers it later (application/sender.py), so a slow or failing
provider never holds up or rolls back a consumer, nor another channel. Customers' contacts come
from other topics than their orders, so a notification may be recorded before its recipient is
known: then it is recorded on every messaging channel and waits; when the contact comes, each is
settled (``Contact.settle``): addressed, moved to the app, or skipped. Guests are told nothing by
email or SMS: their notifications are recorded on the ``in_app`` channel only, which is delivered
by being recorded (``GET /api/notifications`` shows it). Notifications emit no events. Pure
Python: no framework, database or transport here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from servicekit.ids import new_id


class Kind(StrEnum):
    """Why a notification is sent: one per consumed event."""

    WELCOME = "welcome"
    ORDER_PLACED = "order_placed"
    ORDER_CONFIRMED = "order_confirmed"
    ORDER_CANCELLED = "order_cancelled"
    ORDER_REJECTED = "order_rejected"
    ORDER_SHIPPED = "order_shipped"
    ORDER_DELIVERED = "order_delivered"


class Status(StrEnum):
    """PENDING until the provider accepted it (SENT) or we gave up (FAILED); SKIPPED when it was
    recorded for a customer not known yet on a channel that customer turned out not to take
    (never sent, never listed)."""

    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"


class Channel(StrEnum):
    """How a notification reaches its customer; each channel has its own sender and its own
    notification per event, so a failing channel never holds up another."""

    EMAIL = "email"
    SMS = "sms"
    # Shown in GET /api/notifications only: what guests (and customers who chose no channel)
    # get. Delivered by being recorded: no sender, SENT at once.
    IN_APP = "in_app"


# The channels a sender delivers, each through its own provider.
MESSAGING_CHANNELS = (Channel.EMAIL, Channel.SMS)

# What a customer is notified on until their profile says otherwise.
DEFAULT_CHANNELS = (Channel.EMAIL,)


@dataclass(frozen=True, slots=True)
class Mail:
    """What a message says. Never a token or a password: only ids, statuses and amounts."""

    subject: str
    body: str


@dataclass(frozen=True, slots=True)
class Settlement:
    """What becomes of a notification recorded before its customer's contact was known."""

    channel: Channel
    status: Status
    recipient: str | None  # set when it is to be sent (status PENDING)


@dataclass(frozen=True, slots=True)
class Contact:
    """Who a customer is and where their notifications go: learnt from auth's account events
    (registered, guest_registered, guest_converted) and, with the channels and phone, from
    user_service's user.profile_updated."""

    user_id: str
    email: str | None  # None for a guest
    full_name: str
    phone: str | None = None  # E.164
    notification_channels: tuple[Channel, ...] = DEFAULT_CHANNELS
    guest: bool = False

    @property
    def channels(self) -> tuple[Channel, ...]:
        """The channels this customer is notified on: a guest in the app only; a customer on
        each chosen channel they have an address for, in the app only if that leaves none."""
        if self.guest:
            return (Channel.IN_APP,)
        chosen = tuple(c for c in self.notification_channels if self.address(c) is not None)
        return chosen or (Channel.IN_APP,)

    def address(self, channel: Channel) -> str | None:
        """Where this channel's messages go; None when the customer has no such address."""
        if channel is Channel.EMAIL:
            return self.email
        if channel is Channel.SMS:
            return self.phone
        return None

    def settle(self, channel: Channel) -> Settlement:
        """A notification recorded on ``channel`` (one of MESSAGING_CHANNELS) while this contact
        was unknown: sent if the customer takes the channel; else its email one, the event's
        first, is moved to the app when the customer is notified in the app only; skipped
        otherwise. So each event ends with exactly the notifications a known contact gives."""
        if channel in self.channels:
            return Settlement(channel, Status.PENDING, self.address(channel))
        if channel is Channel.EMAIL and Channel.IN_APP in self.channels:
            return Settlement(Channel.IN_APP, Status.SENT, None)
        return Settlement(channel, Status.SKIPPED, None)


@dataclass(frozen=True, slots=True)
class Notification:
    """One message for one consumed event on one channel, as it is recorded."""

    notification_id: str
    event_id: str
    user_id: str
    kind: Kind
    channel: Channel
    recipient: str | None  # None until the customer's contact is known, and in the app
    message: Mail

    @property
    def status(self) -> Status:
        """As recorded: in the app it is delivered by being recorded; otherwise PENDING."""
        return Status.SENT if self.channel is Channel.IN_APP else Status.PENDING

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
        """A notification with a fresh id: also its Message-ID or SMS idempotency key, the same
        on every attempt."""
        return cls(str(new_id()), event_id, user_id, kind, channel, recipient, message)
