"""Login throttling rules (README, "Login throttling"). Pure: the caller loads a bucket with its
row locked, asks ``admit_*`` whether this attempt may have its password checked, and stores the
returned state before checking, so the attempt counts as a failure until it proves otherwise.

Two kinds of bucket:

- a *lockout* bucket per account (shared by every address the account has not logged in from)
  and per (account, known address): a few failures are free, then each failure locks the bucket
  for twice as long as the one before, up to a cap;
- a *leaky* bucket per client address: it holds ``max_failures`` failures and forgives one every
  ``window / max_failures`` seconds, whatever the accounts tried.

Guest creation is throttled per client address by the same leaky bucket, with a rate of its own
(every guest made counts, there is nothing to take back).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class LeakRate:
    """A leaky bucket's size, and how long a full one takes to drain."""

    capacity: int
    window_seconds: float

    @property
    def per_second(self) -> float:
        """How much drains every second."""
        return self.capacity / self.window_seconds


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """The numbers of the rules, from settings."""

    free_failures: int  # failures before the first lockout
    lockout_base_seconds: float  # the lockout after the last free failure
    lockout_max_seconds: float
    window_seconds: float  # a lockout bucket idle this long starts over
    max_failures_per_address: int  # the address bucket's size; it drains over the window

    @property
    def per_address(self) -> LeakRate:
        """The address bucket's rate: max_failures_per_address per window."""
        return LeakRate(self.max_failures_per_address, self.window_seconds)


@dataclass(frozen=True, slots=True)
class Lockout:
    """A lockout bucket: consecutive failures and until when the next attempt must wait."""

    failures: int = 0
    locked_until: datetime | None = None
    last_failure_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Leak:
    """An address bucket: how full it was at ``updated_at``."""

    level: float = 0.0
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether the attempt may have its password checked; if not, how long to wait."""

    allowed: bool
    retry_after_seconds: int = 0


def lockout_seconds(failures: int, policy: ThrottlePolicy) -> float:
    """How long a bucket stays locked after its ``failures``-th consecutive failure: nothing
    before the last free one, then base, 2 x base, 4 x base ..., at most the cap."""
    if failures < policy.free_failures:
        return 0.0
    doublings = min(failures - policy.free_failures, 62)  # 2**62 x base is past any cap
    return float(min(policy.lockout_max_seconds, policy.lockout_base_seconds * 2**doublings))


def _seconds_until(moment: datetime, now: datetime) -> int:
    # Retry-After is whole seconds; rounding up never invites a retry that is still refused.
    return max(1, math.ceil((moment - now).total_seconds()))


def admit_lockout(
    bucket: Lockout, now: datetime, policy: ThrottlePolicy
) -> tuple[Admission, Lockout]:
    """Refuse while the bucket is locked; else count this attempt as a failure and lock the
    bucket for as long as that failure deserves, before its password is checked."""
    if bucket.locked_until is not None and now < bucket.locked_until:
        return Admission(False, _seconds_until(bucket.locked_until, now)), bucket
    failures = bucket.failures
    if bucket.last_failure_at is not None and (now - bucket.last_failure_at) >= timedelta(
        seconds=policy.window_seconds
    ):
        failures = 0  # quiet for a whole window: the old failures are forgotten
    failures += 1
    delay = lockout_seconds(failures, policy)
    locked_until = now + timedelta(seconds=delay) if delay else None
    return Admission(True), Lockout(failures, locked_until, now)


def undo_lockout(bucket: Lockout) -> Lockout:
    """The attempt counted by ``admit_lockout`` succeeded: take it back. Its lockout goes too:
    the attempt was admitted, so any lockout before it had run out."""
    return replace(bucket, failures=max(0, bucket.failures - 1), locked_until=None)


def _drained(bucket: Leak, now: datetime, rate: LeakRate) -> float:
    if bucket.updated_at is None:
        return 0.0
    elapsed = max(0.0, (now - bucket.updated_at).total_seconds())
    return max(0.0, bucket.level - elapsed * rate.per_second)


def admit_leak(bucket: Leak, now: datetime, rate: LeakRate) -> tuple[Admission, Leak]:
    """Refuse when one more would overflow the address bucket; else count it."""
    level = _drained(bucket, now, rate)
    if level + 1 > rate.capacity:
        wait = (level + 1 - rate.capacity) / rate.per_second
        return Admission(False, max(1, math.ceil(wait))), bucket
    return Admission(True), Leak(level + 1, now)


def undo_leak(bucket: Leak, now: datetime, rate: LeakRate) -> Leak:
    """The attempt counted by ``admit_leak`` succeeded: take that one failure back (only that:
    logging in to an account of one's own must not wash an address's other failures away)."""
    return Leak(max(0.0, _drained(bucket, now, rate) - 1), now)
