"""What the notification unit tests share: a clock they move on, a transport that fails on
demand, the consumed events, and delivering them as the inbox consumer would."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

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
from notification_service.adapters.memory import (
    InMemoryNotificationUnitOfWork,
    NotificationStore,
)
from notification_service.application import handlers
from notification_service.application.ports import DeliveryError
from notification_service.domain.model import Channel, Mail
from servicekit.messaging.envelope import Event
from servicekit.messaging.unit_of_work import Cause

HANDLERS: dict[type[Event], Callable[..., None]] = {
    AccountRegistered: handlers.on_account_registered,
    OrderConfirmed: handlers.on_order_confirmed,
    OrderCancelled: handlers.on_order_cancelled,
    OrderRejected: handlers.on_order_rejected,
    GuestRegistered: handlers.on_guest_registered,
    GuestConverted: handlers.on_guest_converted,
    ProfileUpdated: handlers.on_profile_updated,
    OrderCreated: handlers.on_order_created,
    OrderShipped: handlers.on_order_shipped,
    OrderDelivered: handlers.on_order_delivered,
}


class Clock:
    """A wall clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def monotonic(self) -> float:
        return self.now.timestamp()


class Transport:
    """Keeps what it was handed; raises each of ``failures`` in turn first."""

    def __init__(self, *failures: DeliveryError) -> None:
        self.failures = list(failures)
        self.sent: list[tuple[str, Mail, str]] = []
        self.attempts = 0
        self.closed = 0
        self.on_send: Callable[[], None] = lambda: None

    def send(self, *, recipient: str, message: Mail, message_id: str) -> None:
        self.attempts += 1
        self.on_send()
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((recipient, message, message_id))

    def close(self) -> None:
        self.closed += 1


class Platform:
    """A fake store, fed events the way the inbox consumer would feed the service."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.store = NotificationStore(clock=self.clock)

    def unit_of_work(self, cause: Cause | None = None) -> InMemoryNotificationUnitOfWork:
        return InMemoryNotificationUnitOfWork(self.store, cause or Cause("corr"))

    def deliver(self, event: Event, event_id: str | None = None) -> str:
        """Apply one consumed event (a redelivery when given the same event_id); its id."""
        event_id = event_id or str(uuid.uuid4())
        with self.unit_of_work(Cause("corr", event_id, event.event_type)) as uow:
            HANDLERS[type(event)](event, uow)
        return event_id

    def rows(self, user_id: str, channel: Channel | None = Channel.EMAIL) -> list:
        """The user's notifications on ``channel`` (every channel for None), oldest first."""
        rows = [
            r
            for r in self.store.rows.values()
            if r.notification.user_id == user_id
            and (channel is None or r.notification.channel is channel)
        ]
        return sorted(rows, key=lambda r: r.created_at)


def new_user() -> tuple[str, str]:
    user_id = str(uuid.uuid4())
    return user_id, f"user-{user_id[:8]}@example.com"


def registered(user_id: str, email: str, full_name: str = "Ada Lovelace") -> AccountRegistered:
    return AccountRegistered(
        user_id=user_id,
        email=email,
        full_name=full_name,
        roles=["customer"],
        registered_at=datetime.now(UTC),
    )


def confirmed(customer_id: str, order_id: str | None = None) -> OrderConfirmed:
    return OrderConfirmed(
        order_id=order_id or str(uuid.uuid4()),
        customer_id=customer_id,
        items=[{"product_id": str(uuid.uuid4()), "quantity": 2, "unit_price": "10.00"}],
        total="20.00",
        currency="EUR",
    )


def cancelled(customer_id: str, reason: str = "payment declined") -> OrderCancelled:
    return OrderCancelled(order_id=str(uuid.uuid4()), customer_id=customer_id, reason=reason)


def rejected(customer_id: str, reason: str = "out of stock") -> OrderRejected:
    return OrderRejected(order_id=str(uuid.uuid4()), customer_id=customer_id, reason=reason)


PHONE = "+5511987654321"


def profile(
    user_id: str,
    email: str | None,
    channels: list[str],
    *,
    phone: str | None = PHONE,
    guest: bool = False,
    full_name: str = "Ada Lovelace",
) -> ProfileUpdated:
    return ProfileUpdated(
        user_id=user_id,
        full_name=full_name,
        email=email,
        phone=phone,
        notification_channels=channels,
        guest=guest,
    )


def guest(user_id: str) -> GuestRegistered:
    return GuestRegistered(user_id=user_id, roles=["guest"], registered_at=datetime.now(UTC))


def converted(user_id: str, email: str) -> GuestConverted:
    return GuestConverted(
        user_id=user_id,
        email=email,
        full_name="Ada Lovelace",
        roles=["customer"],
        converted_at=datetime.now(UTC),
    )


def created(customer_id: str, order_id: str | None = None) -> OrderCreated:
    return OrderCreated(
        order_id=order_id or str(uuid.uuid4()),
        customer_id=customer_id,
        items=[{"product_id": str(uuid.uuid4()), "quantity": 3}],
        currency="EUR",
        deadline_at=datetime.now(UTC) + timedelta(minutes=5),
    )


def shipped(customer_id: str, order_id: str) -> OrderShipped:
    return OrderShipped(
        order_id=order_id,
        customer_id=customer_id,
        fulfilment_status="SHIPPED",
        changed_by=str(uuid.uuid4()),
    )


def delivered(customer_id: str, order_id: str) -> OrderDelivered:
    return OrderDelivered(
        order_id=order_id,
        customer_id=customer_id,
        fulfilment_status="DELIVERED",
        changed_by=str(uuid.uuid4()),
    )
