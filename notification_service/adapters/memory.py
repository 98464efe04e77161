"""In-memory fakes of the notification repositories and unit of work: the rules' and the
sender's unit tests run on them in milliseconds, and the repository contract tests hold them to
the SQL implementations' behaviour
(tests/notification_service/integration/test_repository_contract.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from notification_service.application.ports import Claim
from notification_service.domain.delivery import NOT_TAKEN, Delivery, Outcome
from notification_service.domain.model import (
    MESSAGING_CHANNELS,
    Channel,
    Contact,
    Notification,
    Status,
)
from servicekit.messaging.unit_of_work import Cause, InMemoryUnitOfWork


@dataclass(frozen=True, slots=True)
class StoredNotification:
    """A notification as the table row holds it."""

    notification: Notification
    created_at: datetime
    next_attempt_at: datetime
    recipient: str | None
    status: Status = Status.PENDING
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = None


@dataclass
class NotificationStore:
    """What the fakes keep between units of work, as a database would. ``clock`` is the time
    (tests move it on); ``on_queued`` is called after each commit that queued mail."""

    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    contacts: dict[str, Contact] = field(default_factory=dict)
    profiles_seen: set[str] = field(default_factory=set)
    rows: dict[str, StoredNotification] = field(default_factory=dict)
    on_queued: list[Callable[[frozenset[Channel]], None]] = field(default_factory=list)
    _last: datetime = field(default=datetime.min.replace(tzinfo=UTC), init=False, repr=False)

    def now(self) -> datetime:
        """The clock's time, strictly later than any before (as transactions' now() are)."""
        self._last = max(self.clock(), self._last + timedelta(microseconds=1))
        return self._last


class InMemoryContacts:
    """Contacts in a dict."""

    def __init__(self, uow: InMemoryNotificationUnitOfWork) -> None:
        self._uow = uow

    def learn(self, contact: Contact) -> None:
        """See Contacts.learn."""
        known = self._uow.contact(contact.user_id)
        if known is None:
            self._uow.pending_contacts[contact.user_id] = contact
        elif not self._uow.profile_seen(contact.user_id):
            self._uow.pending_contacts[contact.user_id] = dataclasses.replace(
                known, email=contact.email, full_name=contact.full_name, guest=contact.guest
            )

    def convert(self, contact: Contact) -> None:
        """See Contacts.convert."""
        known = self._uow.contact(contact.user_id)
        self._uow.pending_contacts[contact.user_id] = (
            dataclasses.replace(contact, guest=False)
            if known is None
            else dataclasses.replace(
                known, email=known.email or contact.email, full_name=contact.full_name, guest=False
            )
        )

    def save(self, contact: Contact) -> None:
        """See Contacts.save."""
        self._uow.pending_contacts[contact.user_id] = contact
        self._uow.pending_profiles.add(contact.user_id)

    def get(self, user_id: str) -> Contact | None:
        """See Contacts.get."""
        return self._uow.contact(user_id)


class InMemoryNotifications:
    """Notifications in a dict, as the consumers record them."""

    def __init__(self, uow: InMemoryNotificationUnitOfWork) -> None:
        self._uow = uow

    def add(self, notification: Notification) -> bool:
        """See Notifications.add."""
        key = (notification.event_id, notification.channel)
        if any((r.notification.event_id, r.notification.channel) == key for r in self._uow.rows()):
            return False
        now = self._uow.now
        status = notification.status
        sent_at = now if status is Status.SENT else None
        self._uow.write(
            StoredNotification(
                notification, now, now, notification.recipient, status, sent_at=sent_at
            )
        )
        if status is Status.PENDING:
            self._uow.queued.add(notification.channel)
        return True

    def settle_waiting(self, contact: Contact) -> int:
        """See Notifications.settle_waiting."""
        settled = 0
        for row in list(self._uow.rows()):
            if (
                row.notification.user_id != contact.user_id
                or row.status is not Status.PENDING
                or row.recipient is not None
                or row.notification.channel not in MESSAGING_CHANNELS
            ):
                continue
            settlement = contact.settle(row.notification.channel)
            now = self._uow.now
            self._uow.write(
                dataclasses.replace(
                    row,
                    notification=dataclasses.replace(row.notification, channel=settlement.channel),
                    status=settlement.status,
                    recipient=settlement.recipient,
                    next_attempt_at=now,
                    last_error=NOT_TAKEN if settlement.status is Status.SKIPPED else None,
                    sent_at=now if settlement.status is Status.SENT else None,
                )
            )
            if settlement.status is Status.PENDING:
                self._uow.queued.add(settlement.channel)
            settled += 1
        return settled


class InMemoryDeliveries:
    """Notifications in a dict, as the senders deliver them."""

    def __init__(self, uow: InMemoryNotificationUnitOfWork) -> None:
        self._uow = uow

    def claim(self, channel: Channel, *, limit: int, lease: float) -> Claim:
        """See Deliveries.claim."""
        now = self._uow.now
        pending = [
            row
            for row in self._uow.rows()
            if row.status is Status.PENDING and row.notification.channel is channel
        ]
        due = sorted(
            (row for row in pending if row.next_attempt_at <= now),
            key=lambda row: (row.next_attempt_at, row.created_at),
        )[:limit]
        until = now + timedelta(seconds=lease)
        deliveries = []
        for row in due:
            self._uow.write(dataclasses.replace(row, next_attempt_at=until))
            contact = self._uow.contact(row.notification.user_id)
            deliveries.append(
                Delivery(
                    notification_id=row.notification.notification_id,
                    kind=row.notification.kind,
                    channel=channel,
                    message=row.notification.message,
                    recipient=row.recipient,
                    attempts=row.attempts,
                    waited=(now - row.created_at).total_seconds(),
                    claimed_until=until,
                    contact=contact if row.recipient is None else None,
                )
            )
        claimed = {row.notification.notification_id for row in due}
        others = [
            row.next_attempt_at
            for row in pending
            if row.notification.notification_id not in claimed
        ]
        next_due_in = (min(others) - now).total_seconds() if others else None
        return Claim(deliveries, next_due_in)

    def record(self, outcomes: Sequence[Outcome]) -> None:
        """See Deliveries.record."""
        now = self._uow.now
        for outcome in outcomes:
            row = self._uow.row(outcome.delivery.notification_id)
            if row is None or row.status is not Status.PENDING:
                continue
            if outcome.status is not Status.SENT and (
                row.next_attempt_at != outcome.delivery.claimed_until
            ):
                continue
            notification = row.notification
            if outcome.channel is not None:
                notification = dataclasses.replace(notification, channel=outcome.channel)
            self._uow.write(
                dataclasses.replace(
                    row,
                    notification=notification,
                    status=outcome.status,
                    attempts=outcome.attempts,
                    last_error=outcome.error,
                    recipient=outcome.recipient or row.recipient,
                    sent_at=now if outcome.status is Status.SENT else row.sent_at,
                    next_attempt_at=row.next_attempt_at
                    if outcome.retry_in is None
                    else now + timedelta(seconds=outcome.retry_in),
                )
            )

    def release(self, deliveries: Sequence[Delivery]) -> None:
        """See Deliveries.release."""
        now = self._uow.now
        for delivery in deliveries:
            row = self._uow.row(delivery.notification_id)
            if (
                row is not None
                and row.status is Status.PENDING
                and row.next_attempt_at == delivery.claimed_until
            ):
                self._uow.write(dataclasses.replace(row, next_attempt_at=now))


class InMemoryNotificationUnitOfWork(InMemoryUnitOfWork):
    """The notification unit of work on a NotificationStore: changes reach the store only on
    commit; ``now`` is fixed for the work, as a transaction's now() is."""

    def __init__(self, store: NotificationStore | None = None, cause: Cause | None = None) -> None:
        super().__init__(cause)
        self.store = store or NotificationStore()
        self.now = self.store.now()
        self.pending_contacts: dict[str, Contact] = {}
        self.pending_rows: dict[str, StoredNotification] = {}
        self.pending_profiles: set[str] = set()
        self.queued: set[Channel] = set()
        self.contacts = InMemoryContacts(self)
        self.notifications = InMemoryNotifications(self)
        self.deliveries = InMemoryDeliveries(self)

    def contact(self, user_id: str) -> Contact | None:
        """A contact as this work sees it."""
        return self.pending_contacts.get(user_id) or self.store.contacts.get(user_id)

    def profile_seen(self, user_id: str) -> bool:
        """Whether a profile of this user was saved, as this work sees it."""
        return user_id in self.pending_profiles or user_id in self.store.profiles_seen

    def row(self, notification_id: str) -> StoredNotification | None:
        """A notification as this work sees it."""
        return self.pending_rows.get(notification_id) or self.store.rows.get(notification_id)

    def rows(self) -> Iterator[StoredNotification]:
        """Every notification as this work sees it, oldest first."""
        for notification_id, row in self.store.rows.items():
            yield self.pending_rows.get(notification_id, row)
        for notification_id, row in self.pending_rows.items():
            if notification_id not in self.store.rows:
                yield row

    def write(self, row: StoredNotification) -> None:
        """Change a notification, for the store at commit."""
        self.pending_rows[row.notification.notification_id] = row

    def _commit(self) -> None:
        super()._commit()
        self.store.contacts.update(self.pending_contacts)
        self.store.rows.update(self.pending_rows)
        self.store.profiles_seen.update(self.pending_profiles)
        queued = frozenset(self.queued)
        self.rollback()
        if queued:
            for callback in self.store.on_queued:
                callback(queued)

    def rollback(self) -> None:
        """Forget what was not committed."""
        super().rollback()
        self.pending_contacts.clear()
        self.pending_rows.clear()
        self.pending_profiles.clear()
        self.queued = set()
