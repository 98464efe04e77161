"""The sender loop: delivers PENDING notifications over SMTP, outside any consumer transaction.

Each notification is claimed in its own short transaction with ``FOR UPDATE SKIP LOCKED``, so any
number of instances share the queue and no two send the same row; the row lock is held while the
SMTP server takes the message (bounded by the SMTP timeout) and the outcome commits with it.
Delivery is at least once: a crash after the server accepted a message but before the commit sends
it again on the next pass (with the same Message-ID). Failures are retried with exponential
backoff and never dropped; after ``max_attempts`` failures the row is FAILED and logged as an
error. A row whose recipient is not known yet waits for the contact without using up attempts.

The loop does not poll while there is nothing to do: a consumer's commit that queued mail wakes
it (``wake``, wired in main.py), and it sleeps until the next retry falls due; ``idle_poll`` is
only the fallback for mail queued by another instance. After a pass that sent mail it waits
``batch_window`` before the next, so that under load one pass takes many. Its SMTP connection
stays open while mail keeps coming and is closed once ``poll_interval`` passes without any.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import Counter
from sqlalchemy.orm import Session, sessionmaker

from notification_service.adapters import repository
from notification_service.adapters.repository import Claimed
from notification_service.adapters.smtp import MESSAGE_REFUSED, Mailer
from notification_service.domain.model import retry_delay
from servicekit.logging import get_logger

log = get_logger(__name__)

NOTIFICATIONS_SENT = Counter(
    "notifications_sent_total", "Emails the SMTP server accepted.", ["kind"]
)
SEND_FAILURES = Counter(
    "notification_send_failures_total", "Failed delivery attempts (retried).", ["kind"]
)
NOTIFICATIONS_FAILED = Counter(
    "notifications_failed_total", "Notifications given up on after every attempt.", ["kind"]
)


@dataclass(frozen=True, slots=True)
class SenderPolicy:
    """How much a pass takes on, how the loop sleeps, and how patiently failures are retried."""

    batch_size: int = 50
    poll_interval: float = 1.0
    idle_poll: float = 10.0
    batch_window: float = 0.25
    max_attempts: int = 10
    retry_initial: float = 2.0
    retry_max: float = 600.0
    contact_retry: float = 5.0
    contact_wait: float = 86_400.0


@dataclass(frozen=True, slots=True)
class _Pass:
    """What one pass did, and what it learnt about the mail still PENDING."""

    handled: int
    cut_short: bool  # the SMTP server could not be reached
    next_due_in: float | None  # seconds, <= 0 when due now; None when nothing is pending


class NotificationSender:
    """Claims due notifications and sends them through a mailer."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        mailer_factory: Callable[[], Mailer],
        policy: SenderPolicy | None = None,
    ) -> None:
        self.sessions = sessions
        self.mailer_factory = mailer_factory
        self.policy = policy or SenderPolicy()
        self._wake = threading.Event()

    def wake(self) -> None:
        """Look for due mail now: called after a commit that queued some."""
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        """Send due mail until ``stop`` is set; a full batch is followed at once by the next."""
        log.info("notification_sender_started")
        # One Event cannot be waited on together with another: stop also wakes the loop.
        threading.Thread(
            target=_set_when_set,
            args=(stop, self._wake),
            name="notification-sender-stop",
            daemon=True,
        ).start()
        mailer = self.mailer_factory()
        try:
            while True:
                self._wake.clear()
                if stop.is_set():  # checked after clear(): a stop that came before is not lost
                    break
                try:
                    done = self._send_due(mailer)
                except Exception as exc:  # noqa: BLE001 - e.g. the database is down: try later
                    log.warning("notification_sender_pass_failed", error=repr(exc))
                    mailer.close()
                    done = _Pass(handled=0, cut_short=True, next_due_in=None)
                if done.handled >= self.policy.batch_size:
                    continue
                if done.handled and not done.cut_short:
                    # Let more mail gather: one pass for many costs less CPU, here and on the
                    # SMTP server, than one per commit. The first mail after a lull goes at once.
                    stop.wait(self.policy.batch_window)
                if not self._wake.wait(self._pause(done)):
                    mailer.close()  # nothing came for a while: free the SMTP server's connection
        finally:
            mailer.close()
        log.info("notification_sender_stopped")

    def send_due(self) -> int:
        """One pass: up to ``batch_size`` due notifications; returns how many were handled.

        Ends early when the SMTP server cannot be reached: the rest wait for the next pass.
        """
        mailer = self.mailer_factory()
        try:
            return self._send_due(mailer).handled
        finally:
            mailer.close()

    def _send_due(self, mailer: Mailer) -> _Pass:
        handled = 0
        next_due_in: float | None = None
        with self.sessions() as session:
            while handled < self.policy.batch_size:
                with session.begin():
                    claim = repository.claim_due(session)
                    next_due_in = claim.next_due_in
                    if claim.notification is None:
                        break
                    handled += 1
                    reachable, retry_in = self._deliver(session, claim.notification, mailer)
                if retry_in is not None:
                    next_due_in = retry_in if next_due_in is None else min(next_due_in, retry_in)
                if not reachable:
                    return _Pass(handled=handled, cut_short=True, next_due_in=next_due_in)
                if next_due_in is None or next_due_in > 0:
                    break  # nothing else is due: no need to ask again
        return _Pass(handled=handled, cut_short=False, next_due_in=next_due_in)

    def _pause(self, done: _Pass) -> float:
        """How long to sleep after a pass, unless woken."""
        if done.cut_short or (done.next_due_in is not None and done.next_due_in <= 0):
            # The server is down, or the due mail is another sender's: do not spin.
            return self.policy.poll_interval
        pause = self.policy.idle_poll
        if done.next_due_in is not None:
            pause = min(pause, done.next_due_in)
        if done.handled:
            pause = min(pause, self.policy.poll_interval)  # then close the connection if idle
        return pause

    def _deliver(
        self, session: Session, notification: Claimed, mailer: Mailer
    ) -> tuple[bool, float | None]:
        """Send one claimed row and record the outcome.

        Returns whether the SMTP server could be reached, and the seconds until the row is due
        again if it stays PENDING.
        """
        context = {"notification_id": notification.notification_id, "kind": notification.kind}
        if notification.recipient is None:
            return True, self._wait_for_contact(session, notification, context)
        try:
            mailer.send(
                recipient=notification.recipient,
                mail=notification.mail,
                message_id=notification.notification_id,
            )
        except OSError as exc:  # smtplib's errors are OSErrors too
            retry_in = self._failed(session, notification, exc, context)
            return isinstance(exc, MESSAGE_REFUSED), retry_in
        attempts = notification.attempts + 1
        repository.mark_sent(
            session,
            notification.notification_id,
            recipient=notification.recipient,
            attempts=attempts,
        )
        NOTIFICATIONS_SENT.labels(notification.kind).inc()
        log.info("notification_sent", **context, attempts=attempts)
        return True, None

    def _failed(
        self, session: Session, notification: Claimed, exc: OSError, context: dict[str, str]
    ) -> float | None:
        attempts = notification.attempts + 1
        error = f"{type(exc).__name__}: {exc}"[:1000]
        SEND_FAILURES.labels(notification.kind).inc()
        if attempts >= self.policy.max_attempts:
            repository.mark_failed(
                session, notification.notification_id, attempts=attempts, error=error
            )
            NOTIFICATIONS_FAILED.labels(notification.kind).inc()
            log.error("notification_failed", **context, attempts=attempts, error=error)
            return None
        delay = retry_delay(
            attempts, initial=self.policy.retry_initial, maximum=self.policy.retry_max
        )
        repository.reschedule(
            session, notification.notification_id, attempts=attempts, error=error, delay=delay
        )
        log.warning(
            "notification_send_failed", **context, attempts=attempts, error=error, retry_in=delay
        )
        return delay

    def _wait_for_contact(
        self, session: Session, notification: Claimed, context: dict[str, str]
    ) -> float | None:
        waited = notification.waited
        if waited > self.policy.contact_wait:
            error = f"recipient still unknown after {waited:.0f}s (no account.registered)"
            repository.mark_failed(
                session, notification.notification_id, attempts=notification.attempts, error=error
            )
            NOTIFICATIONS_FAILED.labels(notification.kind).inc()
            log.error("notification_failed", **context, error=error)
            return None
        repository.reschedule(
            session,
            notification.notification_id,
            attempts=notification.attempts,
            error="recipient not known yet: waiting for account.registered",
            delay=self.policy.contact_retry,
        )
        log.info("notification_waiting_for_contact", **context)
        return self.policy.contact_retry


def _set_when_set(source: threading.Event, target: threading.Event) -> None:
    source.wait()
    target.set()
