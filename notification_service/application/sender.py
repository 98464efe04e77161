"""The sender loop: delivers PENDING notifications over SMTP, outside any consumer transaction.

Each notification is claimed in its own short transaction with ``FOR UPDATE SKIP LOCKED``, so any
number of instances share the queue and no two send the same row; the row lock is held while the
SMTP server takes the message (bounded by the SMTP timeout) and the outcome commits with it.
Delivery is at least once: a crash after the server accepted a message but before the commit sends
it again on the next pass (with the same Message-ID). Failures are retried with exponential
backoff and never dropped; after ``max_attempts`` failures the row is FAILED and logged as an
error. A row whose recipient is not known yet waits for the contact without using up attempts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from prometheus_client import Counter
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from notification_service.adapters.smtp import MESSAGE_REFUSED, Mailer
from notification_service.adapters.tables import contacts, notifications
from notification_service.domain.model import Mail, Status, retry_delay
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
    """How much a pass takes on, and how patiently failures are retried."""

    batch_size: int = 50
    poll_interval: float = 1.0
    max_attempts: int = 10
    retry_initial: float = 2.0
    retry_max: float = 600.0
    contact_retry: float = 5.0
    contact_wait: float = 86_400.0


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

    def run(self, stop: threading.Event) -> None:
        """Send due mail until ``stop`` is set; a full batch is followed at once by the next."""
        log.info("notification_sender_started")
        while not stop.is_set():
            try:
                handled = self.send_due()
            except Exception as exc:  # noqa: BLE001 - e.g. the database is down: try again later
                log.warning("notification_sender_pass_failed", error=repr(exc))
                handled = 0
            if handled < self.policy.batch_size:
                stop.wait(self.policy.poll_interval)
        log.info("notification_sender_stopped")

    def send_due(self) -> int:
        """One pass: up to ``batch_size`` due notifications; returns how many were handled.

        Ends early when the SMTP server cannot be reached: the rest wait for the next pass.
        """
        mailer = self.mailer_factory()
        handled = 0
        try:
            while handled < self.policy.batch_size:
                with self.sessions() as session, session.begin():
                    row = self._claim(session)
                    if row is None:
                        break
                    handled += 1
                    if not self._deliver(session, row, mailer):
                        break
        finally:
            mailer.close()
        return handled

    def _claim(self, session: Session) -> Any:
        return (
            session.execute(
                select(notifications, func.now().label("db_now"))
                .where(
                    notifications.c.status == Status.PENDING,
                    notifications.c.next_attempt_at <= func.now(),
                )
                .order_by(notifications.c.next_attempt_at, notifications.c.created_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            .mappings()
            .first()
        )

    def _deliver(self, session: Session, row: Any, mailer: Mailer) -> bool:
        """Send one claimed row and record the outcome; False when the server is unreachable."""
        notification_id = str(row["notification_id"])
        context = {"notification_id": notification_id, "kind": row["kind"]}
        recipient = row["recipient"] or self._recipient(session, str(row["user_id"]))
        if recipient is None:
            self._wait_for_contact(session, row, context)
            return True
        try:
            mailer.send(
                recipient=recipient,
                mail=Mail(subject=row["subject"], body=row["body"]),
                message_id=notification_id,
            )
        except OSError as exc:  # smtplib's errors are OSErrors too
            self._failed(session, row, exc, context)
            return isinstance(exc, MESSAGE_REFUSED)
        self._update(
            session,
            notification_id,
            status=Status.SENT,
            recipient=recipient,
            attempts=row["attempts"] + 1,
            last_error=None,
            sent_at=func.now(),
        )
        NOTIFICATIONS_SENT.labels(row["kind"]).inc()
        log.info("notification_sent", **context, attempts=row["attempts"] + 1)
        return True

    def _failed(self, session: Session, row: Any, exc: OSError, context: dict[str, str]) -> None:
        attempts = row["attempts"] + 1
        error = f"{type(exc).__name__}: {exc}"[:1000]
        SEND_FAILURES.labels(row["kind"]).inc()
        if attempts >= self.policy.max_attempts:
            self._update(
                session,
                context["notification_id"],
                status=Status.FAILED,
                attempts=attempts,
                last_error=error,
            )
            NOTIFICATIONS_FAILED.labels(row["kind"]).inc()
            log.error("notification_failed", **context, attempts=attempts, error=error)
            return
        delay = retry_delay(
            attempts, initial=self.policy.retry_initial, maximum=self.policy.retry_max
        )
        self._update(
            session,
            context["notification_id"],
            attempts=attempts,
            last_error=error,
            next_attempt_at=func.now() + timedelta(seconds=delay),
        )
        log.warning(
            "notification_send_failed", **context, attempts=attempts, error=error, retry_in=delay
        )

    def _wait_for_contact(self, session: Session, row: Any, context: dict[str, str]) -> None:
        waited = (row["db_now"] - row["created_at"]).total_seconds()
        if waited > self.policy.contact_wait:
            error = f"recipient still unknown after {waited:.0f}s (no account.registered)"
            self._update(
                session, context["notification_id"], status=Status.FAILED, last_error=error
            )
            NOTIFICATIONS_FAILED.labels(row["kind"]).inc()
            log.error("notification_failed", **context, error=error)
            return
        self._update(
            session,
            context["notification_id"],
            last_error="recipient not known yet: waiting for account.registered",
            next_attempt_at=func.now() + timedelta(seconds=self.policy.contact_retry),
        )
        log.info("notification_waiting_for_contact", **context)

    @staticmethod
    def _recipient(session: Session, user_id: str) -> str | None:
        email: str | None = session.execute(
            select(contacts.c.email).where(contacts.c.user_id == user_id)
        ).scalar_one_or_none()
        return email

    @staticmethod
    def _update(session: Session, notification_id: str, **values: Any) -> None:
        session.execute(
            update(notifications)
            .where(notifications.c.notification_id == notification_id)
            .values(**values)
        )
