"""The sender loop: delivers one channel's PENDING notifications, outside any transaction. Each
messaging channel (email, SMS) has a loop of its own, so a channel whose provider is down or slow
never holds up another: its notifications wait and are retried with backoff.

A pass claims up to ``batch_size`` due notifications in one short transaction; the claim keeps
every other sender (any number of instances) off them for ``claim_seconds``. It then hands them
to the transport with no transaction open, and records every outcome in a second short
transaction. A send is started only in the first half of the claim, so that it ends while the
claim still holds; what is left is given back. Delivery is at least once: a crash between the
provider's acceptance and the record sends again after the claim ran out, with the same
Message-ID (SMS: the same idempotency key). The rules (backoff, giving up, waiting for a
contact) are the domain's (domain/delivery.py).

The loop does not poll while there is nothing to do: a consumer's commit that queued mail wakes
it (``wake``, wired in main.py), and it sleeps until the next retry falls due; ``idle_poll`` is
only the fallback for mail queued by another instance. After a pass that sent mail it waits
``batch_window`` before the next, so that under load one pass takes many. Its connection stays
open while mail keeps coming and is closed once ``poll_interval`` passes without any.

A pass whose outcomes cannot be recorded (the database went away after the mail went) keeps
them, and the next pass records them before it claims anything: left claimed, that mail would
wait out its lease (``claim_seconds``, two minutes) and then be sent again (an SMS provider drops
the repeat by its idempotency key; an SMTP server delivers it twice).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from notification_service.application.metrics import (
    NOTIFICATIONS_FAILED,
    NOTIFICATIONS_SENT,
    SEND_FAILURES,
)
from notification_service.application.ports import (
    ChannelUnavailable,
    DeliveryError,
    NotificationUnitOfWork,
    Transport,
)
from notification_service.domain.delivery import Delivery, Outcome, RetryPolicy
from notification_service.domain.model import Channel, Status
from servicekit.logging import get_logger

log = get_logger(__name__)

# A unit of work that owns its transaction: commits when the block ends normally.
UnitOfWorkFactory = Callable[[], AbstractContextManager[NotificationUnitOfWork]]


@dataclass(frozen=True, slots=True)
class SenderPolicy:
    """How much a pass takes on, how long it holds it, how the loop sleeps (seconds), and how
    patiently failures are retried."""

    batch_size: int = 50
    poll_interval: float = 1.0
    idle_poll: float = 10.0
    batch_window: float = 0.25
    claim_seconds: float = 120.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(frozen=True, slots=True)
class PassReport:
    """What one pass did, and what it learnt about the notifications still PENDING."""

    handled: int
    cut_short: bool  # the provider could not be reached
    next_due_in: float | None  # seconds, <= 0 when due now; None when nothing is pending


class NotificationSender:
    """Claims one channel's due notifications and hands them to its transport."""

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        transport_factory: Callable[[], Transport],
        policy: SenderPolicy | None = None,
        *,
        channel: Channel = Channel.EMAIL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.unit_of_work = unit_of_work
        self.transport_factory = transport_factory
        self.policy = policy or SenderPolicy()
        self.channel = channel
        self.clock = clock
        self._wake = threading.Event()
        # A pass's outcomes and unattempted claims whose recording failed (see _send_due).
        self._unrecorded: tuple[Sequence[Outcome], Sequence[Delivery]] | None = None

    def wake(self) -> None:
        """Look for due notifications now: called after a commit that queued some."""
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        """Send due notifications until ``stop`` is set; a full batch is followed at once by
        the next."""
        log.info("notification_sender_started", channel=self.channel.value)
        # One Event cannot be waited on together with another: stop also wakes the loop.
        threading.Thread(
            target=_set_when_set,
            args=(stop, self._wake),
            name=f"notification-sender-{self.channel.value}-stop",
            daemon=True,
        ).start()
        transport = self.transport_factory()
        try:
            while True:
                self._wake.clear()
                if stop.is_set():  # checked after clear(): a stop that came before is not lost
                    break
                try:
                    done = self._send_due(transport)
                except Exception as exc:  # noqa: BLE001 - e.g. the database is down: try later
                    log.warning("notification_sender_pass_failed", error=repr(exc))
                    transport.close()
                    done = PassReport(handled=0, cut_short=True, next_due_in=None)
                if done.handled >= self.policy.batch_size:
                    continue
                if done.handled and not done.cut_short:
                    # Let more mail gather: one pass for many costs less CPU, here and at the
                    # provider, than one per commit. The first mail after a lull goes at once.
                    stop.wait(self.policy.batch_window)
                if not self._wake.wait(self._pause(done)):
                    transport.close()  # nothing came for a while: free the provider's connection
        finally:
            transport.close()
        log.info("notification_sender_stopped", channel=self.channel.value)

    def send_due(self) -> int:
        """One pass: up to ``batch_size`` due notifications; returns how many were handled.

        Ends early when the provider cannot be reached: the rest wait for the next pass.
        """
        transport = self.transport_factory()
        try:
            return self._send_due(transport).handled
        finally:
            transport.close()

    def _send_due(self, transport: Transport) -> PassReport:
        if self._unrecorded is not None:
            # What the last pass sent but could not record (the database went away meanwhile)
            # goes first: left claimed, it would wait out its lease and be sent again.
            self._record(*self._unrecorded)
        with self.unit_of_work() as uow:
            claim = uow.deliveries.claim(
                self.channel, limit=self.policy.batch_size, lease=self.policy.claim_seconds
            )
        if not claim.deliveries:
            return PassReport(handled=0, cut_short=False, next_due_in=claim.next_due_in)
        # No transaction is open from here until the outcomes are recorded.
        last_start = self.clock() + self.policy.claim_seconds / 2
        outcomes: list[Outcome] = []
        reachable = True
        try:
            for delivery in claim.deliveries:
                if not reachable or self.clock() > last_start:
                    break
                outcome, reachable = self._attempt(delivery, transport)
                outcomes.append(outcome)
        finally:  # even when a send failed unexpectedly: what was done is kept
            left = claim.deliveries[len(outcomes) :]
            self._unrecorded = (outcomes, left)
            self._record(outcomes, left)
        due = [claim.next_due_in, *(o.retry_in for o in outcomes)]
        if left:
            due.append(0.0)
        known = [seconds for seconds in due if seconds is not None]
        return PassReport(
            handled=len(outcomes),
            cut_short=not reachable,
            next_due_in=min(known) if known else None,
        )

    def _record(self, outcomes: Sequence[Outcome], left: Sequence[Delivery]) -> None:
        """Record a pass's outcomes and release what it did not attempt; until that commits
        (it raises while the database is away) they are kept for the next pass."""
        with self.unit_of_work() as uow:
            uow.deliveries.record(outcomes)
            if left:
                uow.deliveries.release(left)
        self._unrecorded = None
        for outcome in outcomes:
            _report(outcome)

    def _attempt(self, delivery: Delivery, transport: Transport) -> tuple[Outcome, bool]:
        """Send one claimed notification; its outcome, and whether the provider was reached."""
        retry = self.policy.retry
        settled = delivery.settled()
        if isinstance(settled, Outcome):  # its contact does not take this channel
            return settled, True
        delivery = settled
        if delivery.recipient is None:
            return delivery.unaddressed(retry), True
        try:
            transport.send(
                recipient=delivery.recipient,
                message=delivery.message,
                message_id=delivery.notification_id,
            )
        except DeliveryError as exc:
            reachable = not isinstance(exc, ChannelUnavailable)
            return delivery.failed(str(exc) or type(exc).__name__, retry), reachable
        return delivery.sent(), True

    def _pause(self, done: PassReport) -> float:
        """How long to sleep after a pass, unless woken."""
        if done.cut_short or (done.next_due_in is not None and done.next_due_in <= 0):
            # The provider is down, or the due mail is another sender's: do not spin.
            return self.policy.poll_interval
        pause = self.policy.idle_poll
        if done.next_due_in is not None:
            pause = min(pause, done.next_due_in)
        if done.handled:
            pause = min(pause, self.policy.poll_interval)  # then close the connection if idle
        return pause


def _report(outcome: Outcome) -> None:
    """Log and count a recorded outcome."""
    delivery = outcome.delivery
    kind, channel = delivery.kind.value, (outcome.channel or delivery.channel).value
    context = {"notification_id": delivery.notification_id, "kind": kind, "channel": channel}
    if outcome.status is Status.SENT:
        NOTIFICATIONS_SENT.labels(kind, channel).inc()
        log.info("notification_sent", **context, attempts=outcome.attempts)
        return
    if outcome.status is Status.SKIPPED:
        log.info("notification_skipped", **context)
        return
    if outcome.attempted:
        SEND_FAILURES.labels(kind, channel).inc()
    if outcome.status is Status.FAILED:
        NOTIFICATIONS_FAILED.labels(kind, channel).inc()
        log.error("notification_failed", **context, attempts=outcome.attempts, error=outcome.error)
    elif outcome.attempted:
        log.warning(
            "notification_send_failed",
            **context,
            attempts=outcome.attempts,
            error=outcome.error,
            retry_in=outcome.retry_in,
        )
    else:
        log.info("notification_waiting_for_contact", **context)


def _set_when_set(source: threading.Event, target: threading.Event) -> None:
    source.wait()
    target.set()
