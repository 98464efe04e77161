"""What each consumed event notifies: which kind, with what message, on which channels, to whom.

One notification per channel the customer is notified on. An order event can arrive before the
customer's account.registered (another topic): its notifications are then recorded without a
recipient, and wait for the contact.
"""

from __future__ import annotations

from collections.abc import Callable

from contracts.events import AccountRegistered, OrderCancelled, OrderConfirmed, OrderRejected
from notification_service.domain.mail import (
    Line,
    order_confirmed_mail,
    order_ended_mail,
    welcome_mail,
)
from notification_service.domain.model import (
    DEFAULT_CHANNELS,
    Contact,
    Kind,
    Mail,
    Notification,
)


def contact_of(event: AccountRegistered) -> Contact:
    """The contact a registration tells us."""
    return Contact(user_id=event.user_id, email=event.email, full_name=event.full_name)


def welcome(event: AccountRegistered, *, event_id: str) -> list[Notification]:
    """A new account: welcome its owner."""
    mail = welcome_mail(event.full_name)
    return _each_channel(event_id, Kind.WELCOME, event.user_id, contact_of(event), lambda _: mail)


def order_confirmed(
    event: OrderConfirmed, contact: Contact | None, *, event_id: str
) -> list[Notification]:
    """The order is paid for and its stock held: what was bought, at what price."""
    lines = [Line(item.product_id, item.quantity, item.unit_price) for item in event.items]

    def mail(full_name: str | None) -> Mail:
        return order_confirmed_mail(
            order_id=event.order_id,
            full_name=full_name,
            total=event.total,
            currency=event.currency,
            lines=lines,
        )

    return _each_channel(event_id, Kind.ORDER_CONFIRMED, event.customer_id, contact, mail)


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


def _order_ended(
    kind: Kind, event: OrderCancelled | OrderRejected, contact: Contact | None, event_id: str
) -> list[Notification]:
    def mail(full_name: str | None) -> Mail:
        return order_ended_mail(
            kind=kind, order_id=event.order_id, full_name=full_name, reason=event.reason
        )

    return _each_channel(event_id, kind, event.customer_id, contact, mail)


def _each_channel(
    event_id: str,
    kind: Kind,
    user_id: str,
    contact: Contact | None,
    message: Callable[[str | None], Mail],
) -> list[Notification]:
    """One notification per channel of the customer (the default ones while unknown)."""
    return [
        Notification.new(
            event_id=event_id,
            user_id=user_id,
            kind=kind,
            channel=channel,
            recipient=contact.address(channel) if contact else None,
            message=message(contact.full_name if contact else None),
        )
        for channel in (contact.channels if contact else DEFAULT_CHANNELS)
    ]
