"""The events notification_service consumes: one handler each, ``on_<event>(event, uow)``.

A handler only records notifications, in the inbox consumer's transaction; each channel's sender
(application/sender.py) delivers them later. Each notification is keyed by the consumed event's
id and its channel, so a redelivered event records nothing more. The contact comes from auth's
account events (account.events) and user_service's profiles (user.events), the orders from
order.events: they arrive in any order, so an order notification whose customer is not known
yet waits for the contact, and every contact event settles what waited for it.

Guests: auth's account.guest_registered (and a profile with ``guest``) makes the contact a
guest's, notified in the app only; account.guest_converted (and the profile that follows) makes
it a customer's, notified by email and SMS as chosen from then on.
"""

from __future__ import annotations

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
from notification_service.application.ports import NotificationUnitOfWork
from notification_service.domain import rules
from notification_service.domain.model import Contact, Notification
from servicekit.logging import get_logger

log = get_logger(__name__)


def on_account_registered(event: AccountRegistered, uow: NotificationUnitOfWork) -> None:
    """Remember the contact, queue the welcome, and settle what waited for the contact."""
    uow.contacts.learn(rules.contact_of(event))
    contact = _known(uow, event.user_id)
    _record(uow, rules.welcome(contact, event_id=_event_id(uow)))
    _settle(uow, contact)


def on_guest_registered(event: GuestRegistered, uow: NotificationUnitOfWork) -> None:
    """A guest: notified in the app only; what waited for it is settled so."""
    uow.contacts.learn(rules.guest_contact(event))
    _settle(uow, _known(uow, event.user_id))


def on_guest_converted(event: GuestConverted, uow: NotificationUnitOfWork) -> None:
    """The guest registered: notifiable from now on, welcomed like any registration."""
    uow.contacts.convert(rules.contact_of(event))
    contact = _known(uow, event.user_id)
    _record(uow, rules.welcome(contact, event_id=_event_id(uow)))
    _settle(uow, contact)


def on_profile_updated(event: ProfileUpdated, uow: NotificationUnitOfWork) -> None:
    """The customer's channels, phone and name as their profile now says."""
    contact = rules.profile_contact(event)
    uow.contacts.save(contact)
    _settle(uow, contact)


def on_order_created(event: OrderCreated, uow: NotificationUnitOfWork) -> None:
    """Say the order was received."""
    contact = uow.contacts.get(event.customer_id)
    _record(uow, rules.order_placed(event, contact, event_id=_event_id(uow)))


def on_order_confirmed(event: OrderConfirmed, uow: NotificationUnitOfWork) -> None:
    """Queue the confirmation."""
    contact = uow.contacts.get(event.customer_id)
    _record(uow, rules.order_confirmed(event, contact, event_id=_event_id(uow)))


def on_order_cancelled(event: OrderCancelled, uow: NotificationUnitOfWork) -> None:
    """Say the order was cancelled."""
    contact = uow.contacts.get(event.customer_id)
    _record(uow, rules.order_cancelled(event, contact, event_id=_event_id(uow)))


def on_order_rejected(event: OrderRejected, uow: NotificationUnitOfWork) -> None:
    """Say the order could not be accepted."""
    contact = uow.contacts.get(event.customer_id)
    _record(uow, rules.order_rejected(event, contact, event_id=_event_id(uow)))


def on_order_shipped(event: OrderShipped, uow: NotificationUnitOfWork) -> None:
    """Say the order is on its way."""
    contact = uow.contacts.get(event.customer_id)
    _record(uow, rules.order_shipped(event, contact, event_id=_event_id(uow)))


def on_order_delivered(event: OrderDelivered, uow: NotificationUnitOfWork) -> None:
    """Say the order was delivered."""
    contact = uow.contacts.get(event.customer_id)
    _record(uow, rules.order_delivered(event, contact, event_id=_event_id(uow)))


def _event_id(uow: NotificationUnitOfWork) -> str:
    """The consumed event's id: one notification per event and channel, whatever redelivers."""
    event_id = uow.cause.causation_id
    if event_id is None:
        raise ValueError("a notification answers a consumed event, and this work has none")
    return event_id


def _known(uow: NotificationUnitOfWork, user_id: str) -> Contact:
    """The contact just saved, as stored (a profile seen earlier may know more)."""
    contact = uow.contacts.get(user_id)
    if contact is None:  # pragma: no cover - the same work saved it
        raise RuntimeError("a contact saved in this work cannot be read back")
    return contact


def _settle(uow: NotificationUnitOfWork, contact: Contact) -> None:
    settled = uow.notifications.settle_waiting(contact)
    if settled:
        log.info("notifications_settled", user_id=contact.user_id, count=settled)


def _record(uow: NotificationUnitOfWork, notifications: list[Notification]) -> None:
    for notification in notifications:
        created = uow.notifications.add(notification)
        log.info(
            "notification_queued" if created else "notification_exists",
            kind=notification.kind.value,
            channel=notification.channel.value,
            user_id=notification.user_id,
            event_id=notification.event_id,
            recipient_known=notification.recipient is not None,
        )
