"""Notification use cases: one function per consumed event, and the caller's notifications.

A handler only records the notification (PENDING) in the consumer's transaction; the sender loop
(application/sender.py) delivers it later, so a slow or failing SMTP server never holds up or
rolls back the consumer. account.registered (account.events) and the order events (order.events)
arrive in any order: an order notification whose customer is not yet known waits for the contact.
"""

from __future__ import annotations

from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from contracts.events import (
    CATALOG,
    AccountRegistered,
    OrderCancelled,
    OrderConfirmed,
    OrderRejected,
)
from notification_service.adapters import repository
from notification_service.domain.model import (
    Kind,
    Line,
    Mail,
    order_confirmed_mail,
    order_ended_mail,
    welcome_mail,
)
from servicekit.logging import get_logger
from servicekit.messaging.envelope import Envelope

log = get_logger(__name__)


def on_account_registered(session: Session, envelope: Envelope) -> None:
    """Remember the contact, queue the welcome email, and release mail that waited for it."""
    event = CATALOG.parse(envelope)
    assert isinstance(event, AccountRegistered)
    repository.save_contact(
        session, user_id=event.user_id, email=event.email, full_name=event.full_name
    )
    _record(
        session,
        envelope,
        user_id=event.user_id,
        kind=Kind.WELCOME,
        recipient=event.email,
        mail=welcome_mail(event.full_name),
    )
    # Order mail that arrived before this event (other topic) can go now.
    repository.release_waiting(session, user_id=event.user_id, email=event.email)


def on_order_confirmed(session: Session, envelope: Envelope) -> None:
    """Queue the confirmation email."""
    event = CATALOG.parse(envelope)
    assert isinstance(event, OrderConfirmed)
    contact = repository.find_contact(session, event.customer_id)
    mail = order_confirmed_mail(
        order_id=event.order_id,
        full_name=contact.full_name if contact else None,
        total=event.total,
        currency=event.currency,
        lines=[Line(i.product_id, i.quantity, i.unit_price) for i in event.items],
    )
    _record(
        session,
        envelope,
        user_id=event.customer_id,
        kind=Kind.ORDER_CONFIRMED,
        recipient=contact.email if contact else None,
        mail=mail,
    )


def on_order_ended(session: Session, envelope: Envelope) -> None:
    """order.cancelled / order.rejected: queue the email saying so."""
    event = CATALOG.parse(envelope)
    assert isinstance(event, OrderCancelled | OrderRejected)
    kind = Kind.ORDER_CANCELLED if isinstance(event, OrderCancelled) else Kind.ORDER_REJECTED
    contact = repository.find_contact(session, event.customer_id)
    mail = order_ended_mail(
        kind=kind,
        order_id=event.order_id,
        full_name=contact.full_name if contact else None,
        reason=event.reason,
    )
    _record(
        session,
        envelope,
        user_id=event.customer_id,
        kind=kind,
        recipient=contact.email if contact else None,
        mail=mail,
    )


def list_notifications(session: Session, *, user_id: str, limit: int) -> list[RowMapping]:
    """A user's notifications, newest first."""
    return repository.list_for_user(session, user_id=user_id, limit=limit)


def _record(
    session: Session,
    envelope: Envelope,
    *,
    user_id: str,
    kind: Kind,
    recipient: str | None,
    mail: Mail,
) -> None:
    event_id = str(envelope.event_id)
    created = repository.add_notification(
        session, event_id=event_id, user_id=user_id, kind=kind, recipient=recipient, mail=mail
    )
    log.info(
        "notification_queued" if created else "notification_exists",
        kind=kind,
        user_id=user_id,
        event_id=event_id,
        recipient_known=recipient is not None,
    )
