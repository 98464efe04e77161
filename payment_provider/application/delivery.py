"""Webhook delivery: the provider's outbox, sent to each merchant until it answers 2xx.

Any number of delivery threads (in any number of processes) share the outbox. Each claims one
due webhook at a time with ``FOR UPDATE SKIP LOCKED`` and keeps the row locked while it posts, so
no two ever send the same webhook at once; the outcome commits with the lock's release. A crash
after the merchant's 2xx but before that commit sends the webhook again: delivery is at least
once, and the merchant drops the repeat by the webhook's ``id``.

Each attempt is signed afresh (contracts.webhooks.sign) with the time of that attempt, so a
retry hours later still passes the receiver's timestamp check. A failed attempt (no answer
within the timeout, or any status but 2xx) is retried after a doubling, capped, jittered delay
(domain.model.webhook_retry_delay); a webhook still undelivered ``give_up_after`` seconds after
it was written is abandoned, logged as an error and counted.

The threads sleep until the next retry falls due or a commit that queued a webhook rings the
``Doorbell``; ``idle_poll`` bounds the sleep, for webhooks queued by other processes.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from prometheus_client import Counter, Histogram
from sqlalchemy.orm import Session, sessionmaker

from contracts.webhooks import SIGNATURE_HEADER, sign
from payment_provider.adapters import repository
from payment_provider.adapters.repository import DueWebhook
from payment_provider.application.charges import Clock, utc_now
from payment_provider.domain.model import webhook_retry_delay
from servicekit.logging import get_logger

log = get_logger(__name__)

WEBHOOKS_DELIVERED = Counter(
    "provider_webhooks_delivered_total", "Webhooks a merchant accepted with a 2xx.", ["type"]
)
WEBHOOK_ATTEMPTS_FAILED = Counter(
    "provider_webhook_attempts_failed_total",
    "Delivery attempts that got no 2xx (each is retried).",
    ["type"],
)
WEBHOOKS_ABANDONED = Counter(
    "provider_webhooks_abandoned_total",
    "Webhooks given up on after retrying for give_up_after seconds.",
    ["type"],
)
WEBHOOK_ATTEMPT_SECONDS = Histogram(
    "provider_webhook_attempt_duration_seconds",
    "Time from sending a webhook to the merchant's answer (or the failure).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class WebhookTransport(Protocol):
    """Posts one webhook; adapters.webhook_http.HttpWebhookTransport in production."""

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """The receiver's HTTP status; raises when there is none (refused, timed out, ...)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How patiently webhooks are retried, and how the threads sleep."""

    retry_initial: float = 1.0
    retry_max: float = 300.0
    give_up_after: float = 3 * 24 * 3600.0
    idle_poll: float = 1.0


class Doorbell:
    """Wakes every waiting delivery thread; a ring between two waits is not lost."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._rings = 0

    def ring(self) -> None:
        """Something was queued: look now."""
        with self._condition:
            self._rings += 1
            self._condition.notify_all()

    @property
    def rings(self) -> int:
        """How many times it rang so far (pass it to the next wait)."""
        with self._condition:
            return self._rings

    def wait(self, seen: int, timeout: float) -> int:
        """Block until a ring after the ``seen``-th, or ``timeout``; returns the ring count."""
        with self._condition:
            self._condition.wait_for(lambda: self._rings != seen, timeout)
            return self._rings


class WebhookDelivery:
    """Sends due webhooks; ``run`` is one delivery thread (start several to send in parallel)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        transport_factory: Callable[[], WebhookTransport],
        *,
        secret: str,
        policy: DeliveryPolicy | None = None,
        doorbell: Doorbell | None = None,
        clock: Clock = utc_now,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.sessions = sessions
        self.transport_factory = transport_factory
        self._secret = secret
        self.policy = policy or DeliveryPolicy()
        self.doorbell = doorbell or Doorbell()
        self.clock = clock
        self.jitter = jitter

    def run(self, stop: threading.Event) -> None:
        """Deliver until ``stop`` is set."""
        transport = self.transport_factory()
        seen = self.doorbell.rings
        log.info("webhook_delivery_started")
        try:
            while not stop.is_set():
                try:
                    next_due_in = self._deliver_due(transport, stop)
                except Exception as exc:  # noqa: BLE001 - e.g. the database is down: try later
                    log.warning("webhook_delivery_pass_failed", error=repr(exc))
                    next_due_in = None
                pause = self.policy.idle_poll
                if next_due_in is not None:
                    pause = min(max(next_due_in, 0.0), pause)
                seen = self.doorbell.wait(seen, pause)
        finally:
            transport.close()
        log.info("webhook_delivery_stopped")

    def deliver_due(self) -> int:
        """One pass over everything due now; returns how many attempts it made (tests, tools)."""
        transport = self.transport_factory()
        attempts = 0
        try:
            with self.sessions() as session:
                while self._attempt_one(session, transport):
                    attempts += 1
        finally:
            transport.close()
        return attempts

    def _deliver_due(self, transport: WebhookTransport, stop: threading.Event) -> float | None:
        """Attempt every due webhook; returns seconds until the next one falls due, or None."""
        with self.sessions() as session:
            while not stop.is_set() and self._attempt_one(session, transport):
                pass
            now = self.clock()
            with session.begin():
                due_at = repository.next_webhook_due_at(session, now=now)
        return None if due_at is None else (due_at - now).total_seconds()

    def _attempt_one(self, session: Session, transport: WebhookTransport) -> bool:
        """Claim one due webhook and try it; False when none is due."""
        with session.begin():
            webhook = repository.claim_due_webhook(session, now=self.clock())
            if webhook is None:
                return False
            self._attempt(session, webhook, transport)
        return True

    def _attempt(self, session: Session, webhook: DueWebhook, transport: WebhookTransport) -> None:
        now = self.clock()
        if now - webhook.created_at > timedelta(seconds=self.policy.give_up_after):
            self._abandon(session, webhook, now)
            return
        body = webhook.body.encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self._secret, body, int(now.timestamp())),
        }
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            status = transport.post(webhook.url, body, headers)
        except Exception as exc:  # noqa: BLE001 - whatever failed, the webhook is retried
            error = f"{type(exc).__name__}: {exc}"[:500]
        WEBHOOK_ATTEMPT_SECONDS.observe(time.perf_counter() - started)
        attempts = webhook.attempts + 1
        finished = self.clock()
        if status is not None and 200 <= status < 300:
            repository.record_webhook_attempt(
                session,
                webhook.webhook_id,
                status="delivered",
                attempts=attempts,
                next_attempt_at=finished,
                last_status=status,
                last_error=None,
                delivered_at=finished,
            )
            WEBHOOKS_DELIVERED.labels(webhook.event_type).inc()
            log.info(
                "webhook_delivered",
                webhook_id=str(webhook.webhook_id),
                type=webhook.event_type,
                charge_id=str(webhook.charge_id),
                attempts=attempts,
                status=status,
            )
            return
        delay = webhook_retry_delay(
            attempts,
            initial=self.policy.retry_initial,
            maximum=self.policy.retry_max,
            jitter=self.jitter(),
        )
        if error is None:
            error = f"HTTP {status}"
        repository.record_webhook_attempt(
            session,
            webhook.webhook_id,
            status="pending",
            attempts=attempts,
            next_attempt_at=finished + timedelta(seconds=delay),
            last_status=status,
            last_error=error,
            delivered_at=None,
        )
        WEBHOOK_ATTEMPTS_FAILED.labels(webhook.event_type).inc()
        log.warning(
            "webhook_attempt_failed",
            webhook_id=str(webhook.webhook_id),
            type=webhook.event_type,
            charge_id=str(webhook.charge_id),
            attempts=attempts,
            error=error,
            retry_in_seconds=round(delay, 3),
        )

    def _abandon(self, session: Session, webhook: DueWebhook, now: datetime) -> None:
        repository.record_webhook_attempt(
            session,
            webhook.webhook_id,
            status="abandoned",
            attempts=webhook.attempts,
            next_attempt_at=now,
            last_status=None,
            last_error=f"given up after {self.policy.give_up_after:.0f} s",
            delivered_at=None,
        )
        WEBHOOKS_ABANDONED.labels(webhook.event_type).inc()
        log.error(
            "webhook_abandoned",
            webhook_id=str(webhook.webhook_id),
            type=webhook.event_type,
            charge_id=str(webhook.charge_id),
            attempts=webhook.attempts,
        )
