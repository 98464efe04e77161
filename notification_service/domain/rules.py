"""What each consumed event notifies: which kind, with what message, on which channels, to whom.

One notification per channel the customer is notified on (``Contact.channels``): email and SMS
as they chose, the app only for a guest. An order event can arrive before the customer's contact
(other topics): its notifications are then recorded on every messaging channel without a
recipient, and wait for the contact, which settles each (``Contact.settle``).
"""

from __future__ import annotations

from collections.abc import Callable

from contracts.events import (
    AccountRegistered,
    GuestConverted,
    GuestRegistered,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderDelivered,
    OrderRejected,
    OrderShipped,
    ProfileUpdated,
)
from notification_service.domain.mail import (
    Line,
    fulfilment_mail,
    order_confirmed_mail,
    order_ended_mail,
    order_placed_mail,
    sms,
    welcome_mail,
)
from notification_service.domain.model import (
    MESSAGING_CHANNELS,
    Channel,
    Contact,
    Kind,
    Mail,
    Notification,
)

# What a guest is called: a guest gives no name.
GUEST_NAME = "Guest"


def contact_of(event: AccountRegistered | GuestConverted) -> Contact:
    """The contact a registration tells us (channels: the default, until a profile says)."""
    return Contact(user_id=event.user_id, email=event.email, full_name=event.full_name)


def guest_contact(event: GuestRegistered) -> Contact:
    """A guest: no email, no phone, notified in the app only."""
    return Contact(user_id=event.user_id, email=None, full_name=GUEST_NAME, guest=True)


def profile_contact(event: ProfileUpdated) -> Contact:
    """The contact a profile tells us: the channels and phone the customer chose. A channel this
    service does not know (a newer producer's) is left out."""
    known = {channel.value: channel for channel in (Channel.EMAIL, Channel.SMS)}
    channels = tuple(known[c] for c in dict.fromkeys(event.notification_channels) if c in known)
    return Contact(
        user_id=event.user_id,
        email=event.email,
        full_name=event.full_name,
        phone=event.phone,
        notification_channels=channels,
        guest=event.guest,
    )


def welcome(contact: Contact, *, event_id: str) -> list[Notification]:
    """A new account (or a guest that registered): welcome its owner."""
    mail = welcome_mail(contact.full_name)
    return _each_channel(
        event_id, Kind.WELCOME, contact.user_id, contact, lambda channel, _: _on(channel, mail)
    )


def order_placed(
    event: OrderCreated, contact: Contact | None, *, event_id: str
) -> list[Notification]:
    """The order was received."""
    count = sum(item.quantity for item in event.items)

    def message(channel: Channel, full_name: str | None) -> Mail:
        mail = order_placed_mail(order_id=event.order_id, full_name=full_name, item_count=count)
        return _on(channel, mail, Kind.ORDER_PLACED, event.order_id)

    return _each_channel(event_id, Kind.ORDER_PLACED, event.customer_id, contact, message)


def order_confirmed(
    event: OrderConfirmed, contact: Contact | None, *, event_id: str
) -> list[Notification]:
    """The order is paid for and its stock held: what was bought, at what price."""
    lines = [Line(item.product_id, item.quantity, item.unit_price) for item in event.items]

    def message(channel: Channel, full_name: str | None) -> Mail:
        mail = order_confirmed_mail(
            order_id=event.order_id,
            full_name=full_name,
            total=event.total,
            currency=event.currency,
            lines=lines,
        )
        total = f"{event.total} {event.currency}"
        return _on(channel, mail, Kind.ORDER_CONFIRMED, event.order_id, total)

    return _each_channel(event_id, Kind.ORDER_CONFIRMED, event.customer_id, contact, message)


def order_cancelled(
    event: OrderCancelled, contact: Contact | None, *, event_id: str
) -> list[Notification]:
    """The order was cancelled, and why."""
    return _order_ended(Kind.ORDER_CANCELLED, event, contact, event_id)


def order_rejected(
    event: OrderRejected, contact: Contact | None, *, event_id: str
) -> list[Notification]:
    """The order could not be accepted, and why."""
    return _order_ended(Kind.ORDER_REJECTED, event, contact, event_id)


def order_shipped(
    event: OrderShipped, contact: Contact | None, *, event_id: str
) -> list[Notification]:
    """The order left for its delivery address."""
    return _fulfilment(Kind.ORDER_SHIPPED, event, contact, event_id)


def order_delivered(
    event: OrderDelivered, contact: Contact | None, *, event_id: str
) -> list[Notification]:
    """The order reached the customer."""
    return _fulfilment(Kind.ORDER_DELIVERED, event, contact, event_id)


def _order_ended(
    kind: Kind, event: OrderCancelled | OrderRejected, contact: Contact | None, event_id: str
) -> list[Notification]:
    def message(channel: Channel, full_name: str | None) -> Mail:
        mail = order_ended_mail(
            kind=kind, order_id=event.order_id, full_name=full_name, reason=event.reason
        )
        return _on(channel, mail, kind, event.order_id)

    return _each_channel(event_id, kind, event.customer_id, contact, message)


def _fulfilment(
    kind: Kind, event: OrderShipped | OrderDelivered, contact: Contact | None, event_id: str
) -> list[Notification]:
    def message(channel: Channel, full_name: str | None) -> Mail:
        mail = fulfilment_mail(kind=kind, order_id=event.order_id, full_name=full_name)
        return _on(channel, mail, kind, event.order_id)

    return _each_channel(event_id, kind, event.customer_id, contact, message)


def _on(
    channel: Channel,
    mail: Mail,
    kind: Kind = Kind.WELCOME,
    order_id: str | None = None,
    total: str = "",
) -> Mail:
    """The message as ``channel`` carries it: the email, or its SMS."""
    if channel is Channel.SMS:
        return sms(kind, mail, order_id=order_id, total=total)
    return mail


def _each_channel(
    event_id: str,
    kind: Kind,
    user_id: str,
    contact: Contact | None,
    message: Callable[[Channel, str | None], Mail],
) -> list[Notification]:
    """One notification per channel of the customer; on every messaging channel, unaddressed,
    while the customer is unknown."""
    full_name = contact.full_name if contact else None
    return [
        Notification.new(
            event_id=event_id,
            user_id=user_id,
            kind=kind,
            channel=channel,
            recipient=contact.address(channel) if contact else None,
            message=message(channel, full_name),
        )
        for channel in (contact.channels if contact else MESSAGING_CHANNELS)
    ]
