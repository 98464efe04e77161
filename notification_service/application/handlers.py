"""The events notification_service consumes: one handler each, ``on_<event>(event, uow)``.

A handler only records notifications (PENDING), in the inbox consumer's transaction; the sender
(application/sender.py) delivers them later. Each notification is keyed by the consumed event's
id, so a redelivered event records nothing more. account.registered (account.events) and the
order events (order.events) arrive in any order: an order notification whose customer is not
known yet waits for the contact.
"""

from __future__ import annotations

from contracts.events import AccountRegistered, OrderCancelled, OrderConfirmed, OrderRejected
from notification_service.application.ports import NotificationUnitOfWork
from notification_service.domain import rules
from notification_service.domain.model import Notification
from servicekit.logging import get_logger

log = get_logger(__name__)


def on_account_registered(event: AccountRegistered, uow: NotificationUnitOfWork) -> None:
    """Remember the contact, queue the welcome mail, and release mail that waited for it."""
    contact = rules.contact_of(event)
    uow.contacts.save(contact)
    _record(uow, rules.welcome(event, event_id=_event_id(uow)))
    # Order mail that arrived before this event (other topic) can go now.
    uow.notifications.release_waiting(contact)


def on_order_confirmed(event: OrderConfirmed, uow: NotificationUnitOfWork) -> None:
    """Queue the confirmation mail."""
    contact = uow.contacts.get(event.customer_id)
    _record(uow, rules.order_confirmed(event, contact, event_id=_event_id(uow)))


def on_order_cancelled(event: OrderCancelled, uow: NotificationUnitOfWork) -> None:
    """Queue the mail saying the order was cancelled."""
    contact = uow.contacts.get(event.customer_id)
    _record(uow, rules.order_cancelled(event, contact, event_id=_event_id(uow)))


def on_order_rejected(event: OrderRejected, uow: NotificationUnitOfWork) -> None:
    """Queue the mail saying the order could not be accepted."""
    contact = uow.contacts.get(event.customer_id)
    _record(uow, rules.order_rejected(event, contact, event_id=_event_id(uow)))


def _event_id(uow: NotificationUnitOfWork) -> str:
    """The consumed event's id: one notification per event and channel, whatever redelivers."""
    event_id = uow.cause.causation_id
    if event_id is None:
        raise ValueError("a notification answers a consumed event, and this work has none")
    return event_id


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
