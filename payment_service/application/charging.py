"""The calls payment_service owes the payment provider, made outside any transaction.

A consumed event (or a webhook) decides that a charge must be created, withdrawn or refunded and
records the call in its own transaction (``provider_calls``, asked through ``Payment.calls``).
This worker then, for each due call: claims it for one attempt (a lease, committed), calls the
provider with the call's idempotency key and a timeout, and records the outcome with the
payment's change in a new transaction. A failure puts the call off with exponential backoff and
jitter. A crash anywhere in between leaves the call due again once its lease ends, and the
repeat, with the same key, finds the charge (or refund) the first attempt made: one charge in
the end, whatever dies when.

Idle workers do not poll: a commit that makes calls due rings a ``Doorbell`` that lets that many
of them through (wired in main.py), and otherwise each sleeps until the next call falls due (a
retry's backoff, a lease that ends) or ``idle_poll`` at most, which catches calls another
instance recorded.

The crash points ``payment.pix.before_create_charge`` and ``payment.pix.before_record_charge``
(servicekit.failpoints, armed only by tests through SERVICEKIT_FAILPOINTS) sit on both sides of
the provider's answer.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import Counter
from sqlalchemy.orm import Session, sessionmaker

from payment_service.adapters import provider_calls
from payment_service.adapters.pix_provider import (
    PixProviderClient,
    ProviderCharge,
    ProviderRefused,
    ProviderUnavailable,
)
from payment_service.adapters.provider_calls import CallTarget, DueCall
from payment_service.application.ports import PaymentUnitOfWork
from payment_service.domain.model import (
    DEADLINE_PASSED,
    Payment,
    PaymentStatus,
    PixCharge,
    ProviderCall,
)
from servicekit.failpoints import failpoint
from servicekit.logging import get_logger

log = get_logger(__name__)

PROVIDER_CALLS = Counter(
    "payment_provider_calls_total",
    "Attempts of calls to the payment provider.",
    ["kind", "outcome"],
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How calls are retried: doubling from ``initial`` up to ``maximum`` seconds, jittered;
    ``lease`` is how long a claimed call is left to its worker (above the call's timeout)."""

    initial: float
    maximum: float
    lease: float
    idle_poll: float  # the longest an idle worker sleeps without being rung

    def delay(self, attempts: int) -> float:
        """Seconds before the next attempt after ``attempts`` failures ("equal jitter")."""
        step = min(self.initial * 2.0 ** min(max(attempts - 1, 0), 30), self.maximum)
        return step / 2 + random.random() * step / 2  # spreading, not secrecy


class Doorbell:
    """Wakes idle workers: ``ring(n)`` lets ``n`` of them through, those waiting or the next to
    wait; no more rings are kept than there are workers (each costs one look for a due call)."""

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._rings = 0
        self._condition = threading.Condition()

    def ring(self, times: int = 1) -> None:
        """``times`` calls became due (or a stop came)."""
        with self._condition:
            self._rings = min(self._rings + times, self._workers)
            self._condition.notify(times)

    def wait(self, timeout: float) -> bool:
        """Until rung or ``timeout`` seconds pass; True if rung."""
        with self._condition:
            if self._condition.wait_for(lambda: self._rings > 0, timeout):
                self._rings -= 1
                return True
            return False


def _ring_when_set(stop: threading.Event, doorbell: Doorbell) -> None:
    stop.wait()
    doorbell.ring()


# A unit of work that owns its transaction: commits when the block ends normally.
UnitOfWorkFactory = Callable[[], AbstractContextManager[PaymentUnitOfWork]]


class Charging:
    """Makes the provider calls owed, one at a time per worker thread."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        unit_of_work: UnitOfWorkFactory,
        client: Callable[[], PixProviderClient],
        *,
        policy: RetryPolicy,
        doorbell: Doorbell | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions = sessions
        self.unit_of_work = unit_of_work
        self.client = client
        self.policy = policy
        self.doorbell = doorbell
        self.now = now
        self._idle_for = policy.idle_poll

    def run(self, stop: threading.Event) -> None:
        """Make due calls until ``stop``; idle, sleep until rung or the next call is due."""
        client = self.client()
        doorbell = self.doorbell
        if doorbell is not None:
            # A stop rings too, so that a sleeping worker ends at once.
            threading.Thread(
                target=_ring_when_set,
                args=(stop, doorbell),
                name="provider-calls-stop",
                daemon=True,
            ).start()
        failures = 0
        try:
            while not stop.is_set():
                try:
                    worked = self.run_once(client)
                    failures = 0
                except Exception:  # the database away: keep the loop, back off
                    failures += 1
                    log.exception("provider_calls_failed")
                    stop.wait(self.policy.delay(failures))
                    continue
                if worked:
                    continue
                if doorbell is not None:
                    doorbell.wait(self._idle_for)
                else:
                    stop.wait(self._idle_for)
        finally:
            client.close()

    def run_once(self, client: PixProviderClient) -> bool:
        """One due call, if there is one: True if there was. If not, notes how long to sleep:
        until the next call is due, ``idle_poll`` at most."""
        with self.sessions() as session, session.begin():
            call = provider_calls.claim_due(session, lease=self.policy.lease)
            target = provider_calls.target_of(session, call.order_id) if call else None
            if call is None:
                next_due = provider_calls.seconds_to_next_due(session)
        if call is None:
            self._idle_for = (
                self.policy.idle_poll
                if next_due is None
                else min(max(next_due, 0.01), self.policy.idle_poll)
            )
            return False
        try:
            if target is None:  # pragma: no cover - a call is recorded with its payment
                raise ProviderRefused(f"no payment for order {call.order_id}")
            self._perform(call, target, client)
        except ProviderUnavailable as exc:
            delay = self.policy.delay(call.attempts)
            with self.sessions() as session, session.begin():
                provider_calls.retry_later(session, call.call_id, delay=delay, error=str(exc))
            PROVIDER_CALLS.labels(call.kind.value, "retry").inc()
            log.warning(
                "provider_call_retry",
                order_id=call.order_id,
                kind=call.kind.value,
                attempts=call.attempts,
                retry_in=round(delay, 3),
                error=str(exc),
            )
            return True
        PROVIDER_CALLS.labels(call.kind.value, "done").inc()
        return True

    def _perform(self, call: DueCall, target: CallTarget, client: PixProviderClient) -> None:
        if call.kind is ProviderCall.CREATE_CHARGE:
            self._create(call, target, client)
        elif call.kind is ProviderCall.CANCEL_CHARGE:
            self._cancel(call, target, client)
        else:
            self._refund(call, target, client)

    def _create(self, call: DueCall, target: CallTarget, client: PixProviderClient) -> None:
        if target.status != PaymentStatus.PENDING or target.charge_id is not None:
            # Decided meanwhile (the order ended: its cancel call withdraws any charge).
            self._record(call, lambda payment: None)
            return
        deadline = target.deadline_at or target.created_at
        if self.now() >= deadline:
            self._record(call, lambda payment: payment.give_up(DEADLINE_PASSED))
            return
        failpoint("payment.pix.before_create_charge")
        try:
            charge = client.create_charge(
                idempotency_key=call.call_id,
                amount=target.amount,
                currency=target.currency,
                # Fixed by what the intent recorded, so every retry sends the same request.
                expires_in_seconds=max(
                    1, math.ceil((deadline - target.created_at).total_seconds())
                ),
                reference=call.order_id,
            )
        except ProviderRefused as exc:
            reason = f"payment provider refused the charge: {exc}"
            self._record(call, lambda payment: payment.give_up(reason))
            return
        failpoint("payment.pix.before_record_charge")
        created = PixCharge(charge.charge_id, charge.qr_code, charge.qr_code_png, charge.expires_at)
        self._record(call, lambda payment: payment.charge_created(created))
        log.info("pix_charge_created", order_id=call.order_id, charge_id=charge.charge_id)

    def _cancel(self, call: DueCall, target: CallTarget, client: PixProviderClient) -> None:
        if target.expires_at is not None and self.now() >= target.expires_at:
            # Expired at the provider already (a saga timing out ends with its charge): nobody
            # can pay it, nothing to ask.
            self._record(call, lambda payment: None)
            return
        charges = (
            [target.charge_id]
            if target.charge_id is not None
            else [c.charge_id for c in client.charges_of(call.order_id) if c.status == "pending"]
        )
        for charge_id in charges:
            try:
                client.cancel_charge(charge_id)
            except ProviderRefused as exc:
                # Paid just before: its charge.paid webhook refunds it.
                log.info("pix_charge_not_cancelled", order_id=call.order_id, reason=str(exc))
        self._record(call, lambda payment: None)
        log.info("pix_charge_cancelled", order_id=call.order_id, charges=len(charges))

    def _refund(self, call: DueCall, target: CallTarget, client: PixProviderClient) -> None:
        charge_id = target.charge_id or _paid(client.charges_of(call.order_id))
        if charge_id is None:
            raise ProviderUnavailable("the provider shows no paid charge yet")
        try:
            client.refund_charge(charge_id, idempotency_key=call.call_id)
        except ProviderRefused as exc:
            # Nothing to give back (never paid, or refunded by other means): say so loudly.
            log.error("pix_refund_refused", order_id=call.order_id, error=str(exc))
            self._record(call, lambda payment: None)
            return
        self._record(call, lambda payment: payment.charge_refunded())
        log.info("pix_charge_refunded", order_id=call.order_id, charge_id=charge_id)

    def _record(self, call: DueCall, change: Callable[[Payment], None]) -> None:
        """The outcome: the payment's change and the call done, in one transaction."""

        with self.unit_of_work() as uow:
            payment = uow.payments.get_for_update(call.order_id)
            if payment is not None:
                change(payment)
                uow.payments.save(payment)
            uow.calls.done(call.order_id, call.kind)


def _paid(charges: list[ProviderCharge]) -> str | None:
    return next((c.charge_id for c in charges if c.status in ("paid", "refunded")), None)
