"""Delivering a notification: what a sender holds while it sends one, what came of it, and how
patiently failures are retried.

Delivery is at least once. A sender claims due notifications for a while (``claimed_until``),
sends them outside any transaction, then records each outcome; a crash in between sends them
again once the claim ran out, with the same Message-ID (or provider idempotency key), so the
receiving side can drop the repeat. Failures are retried with exponential backoff and never
dropped silently: after ``max_attempts`` the notification is FAILED. One whose recipient is not
known yet waits for the contact without using up attempts, for ``contact_wait`` seconds at most;
one whose contact came while it was being recorded is settled by the sender as the contact says
(``Contact.settle``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from notification_service.domain.model import Channel, Contact, Kind, Mail, Status

MAX_ERROR_LENGTH = 1000
WAITING_FOR_CONTACT = (
    "recipient not known yet: waiting for account.registered or user.profile_updated"
)
NOT_TAKEN = "the customer is not notified on this channel"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How patiently a notification is retried (seconds)."""

    max_attempts: int = 10
    retry_initial: float = 2.0
    retry_max: float = 600.0
    contact_retry: float = 5.0
    contact_wait: float = 86_400.0

    def delay(self, attempts: int) -> float:
        """Seconds before the next try after ``attempts`` failures: doubling, capped."""
        return float(min(self.retry_initial * 2 ** max(attempts - 1, 0), self.retry_max))


@dataclass(frozen=True, slots=True)
class Delivery:
    """A due notification a sender claimed: no other sender takes it before ``claimed_until``,
    which also identifies the claim when its outcome is recorded."""

    notification_id: str
    kind: Kind
    channel: Channel
    message: Mail
    recipient: str | None
    attempts: int  # failed attempts so far
    waited: float  # seconds since the notification was recorded
    claimed_until: datetime
    # The customer's contact, for a notification recorded before it was known (no recipient):
    # it was saved while the notification was being recorded, so nothing settled it yet.
    contact: Contact | None = None

    def settled(self) -> Delivery | Outcome:
        """This delivery addressed by its contact, or what becomes of it if it is not to be
        sent on its channel (see Contact.settle); itself when it has a recipient or no contact."""
        if self.recipient is not None or self.contact is None:
            return self
        settlement = self.contact.settle(self.channel)
        if settlement.recipient is not None:
            return replace(self, recipient=settlement.recipient)
        error = None if settlement.status is Status.SENT else NOT_TAKEN
        return Outcome(self, settlement.status, self.attempts, error, channel=settlement.channel)

    def sent(self) -> Outcome:
        """The provider accepted it."""
        return Outcome(self, Status.SENT, self.attempts + 1, attempted=True)

    def failed(self, error: str, policy: RetryPolicy) -> Outcome:
        """An attempt failed: try again after a backoff, or give up after the last attempt."""
        attempts = self.attempts + 1
        error = error[:MAX_ERROR_LENGTH]
        if attempts >= policy.max_attempts:
            return Outcome(self, Status.FAILED, attempts, error, attempted=True)
        return Outcome(
            self, Status.PENDING, attempts, error, policy.delay(attempts), attempted=True
        )

    def unaddressed(self, policy: RetryPolicy) -> Outcome:
        """No recipient yet: look again later, or give up once the contact is long overdue."""
        if self.waited > policy.contact_wait:
            error = (
                f"recipient still unknown after {self.waited:.0f}s "
                "(no account.registered nor user.profile_updated)"
            )
            return Outcome(self, Status.FAILED, self.attempts, error)
        return Outcome(
            self, Status.PENDING, self.attempts, WAITING_FOR_CONTACT, policy.contact_retry
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What came of a claimed notification, to be recorded."""

    delivery: Delivery
    status: Status
    attempts: int
    error: str | None = None
    retry_in: float | None = None  # PENDING: seconds until it is due again
    attempted: bool = False  # whether it was handed to the provider at all
    channel: Channel | None = None  # set when settling moved it to another channel

    @property
    def recipient(self) -> str | None:
        """The address it went to, once sent."""
        return self.delivery.recipient if self.status is Status.SENT else None
