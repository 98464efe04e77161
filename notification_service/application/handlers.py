"""Notification use cases: one function per consumed event, and the caller's notifications.

A handler only records the notification (PENDING) in the consumer's transaction; the sender loop
(application/sender.py) delivers it later, so a slow or failing SMTP server never holds up or
rolls back the consumer. account.registered (account.events) and the order events (order.events)
arrive in any order: an order notification whose customer is not yet known waits for the contact.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from contracts.events import (
    CATALOG,
    AccountRegistered,
    OrderCancelled,
    OrderConfirmed,
    OrderRejected,
)
from notification_service.adapters.tables import contacts, notifications
from notification_service.domain.model import (
    EMAIL,
    Kind,
    Line,
    Mail,
    Status,
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
    session.execute(
        insert(contacts)
        .values(user_id=event.user_id, email=event.email, full_name=event.full_name)
        .on_conflict_do_update(
            index_elements=["user_id"],
            set_={"email": event.email, "full_name": event.full_name, "updated_at": func.now()},
        )
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
    session.execute(
        update(notifications)
        .where(
            notifications.c.user_id == event.user_id,
            notifications.c.status == Status.PENDING,
            notifications.c.recipient.is_(None),
        )
        .values(recipient=event.email, next_attempt_at=func.now())
    )


def on_order_confirmed(session: Session, envelope: Envelope) -> None:
    """Queue the confirmation email."""
    event = CATALOG.parse(envelope)
    assert isinstance(event, OrderConfirmed)
    contact = _contact(session, event.customer_id)
    mail = order_confirmed_mail(
        order_id=event.order_id,
        full_name=contact["full_name"] if contact else None,
        total=event.total,
        currency=event.currency,
        lines=[Line(i.product_id, i.quantity, i.unit_price) for i in event.items],
    )
    _record(
        session,
        envelope,
        user_id=event.customer_id,
        kind=Kind.ORDER_CONFIRMED,
        recipient=contact["email"] if contact else None,
        mail=mail,
    )


def on_order_ended(session: Session, envelope: Envelope) -> None:
    """order.cancelled / order.rejected: queue the email saying so."""
    event = CATALOG.parse(envelope)
    assert isinstance(event, OrderCancelled | OrderRejected)
    kind = Kind.ORDER_CANCELLED if isinstance(event, OrderCancelled) else Kind.ORDER_REJECTED
    contact = _contact(session, event.customer_id)
    mail = order_ended_mail(
        kind=kind,
        order_id=event.order_id,
        full_name=contact["full_name"] if contact else None,
        reason=event.reason,
    )
    _record(
        session,
        envelope,
        user_id=event.customer_id,
        kind=kind,
        recipient=contact["email"] if contact else None,
        mail=mail,
    )


def list_notifications(session: Session, *, user_id: str, limit: int) -> list[RowMapping]:
    """A user's notifications, newest first."""
    return list(
        session.execute(
            select(notifications)
            .where(notifications.c.user_id == user_id)
            .order_by(notifications.c.created_at.desc(), notifications.c.notification_id)
            .limit(limit)
        )
        .mappings()
        .all()
    )


def _contact(session: Session, user_id: str) -> RowMapping | None:
    return (
        session.execute(
            select(contacts.c.email, contacts.c.full_name).where(contacts.c.user_id == user_id)
        )
        .mappings()
        .first()
    )


def _record(
    session: Session,
    envelope: Envelope,
    *,
    user_id: str,
    kind: Kind,
    recipient: str | None,
    mail: Mail,
) -> None:
    created = session.execute(
        insert(notifications)
        .values(
            notification_id=str(uuid.uuid4()),
            user_id=user_id,
            event_id=str(envelope.event_id),
            kind=kind,
            channel=EMAIL,
            recipient=recipient,
            subject=mail.subject,
            body=mail.body,
            status=Status.PENDING,
        )
        # The inbox already skips a redelivery; this makes "one per event" hold regardless.
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(notifications.c.notification_id)
    ).first()
    log.info(
        "notification_queued" if created else "notification_exists",
        kind=kind,
        user_id=user_id,
        event_id=str(envelope.event_id),
        recipient_known=recipient is not None,
    )
