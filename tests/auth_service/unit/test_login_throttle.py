"""The login throttle's rules (auth_service.domain.throttle): free failures, then a lockout that
doubles per failure up to a cap; idle buckets start over; a success takes back only its own
count; the per-address bucket drains at max / window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from auth_service.domain.throttle import (
    Leak,
    Lockout,
    ThrottlePolicy,
    admit_leak,
    admit_lockout,
    lockout_seconds,
    undo_leak,
    undo_lockout,
)

POLICY = ThrottlePolicy(
    free_failures=5,
    lockout_base_seconds=1.0,
    lockout_max_seconds=300.0,
    window_seconds=900.0,
    max_failures_per_address=100,
)
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("failures", "seconds"),
    [(0, 0), (1, 0), (4, 0), (5, 1), (6, 2), (7, 4), (10, 32), (13, 256), (14, 300), (10**6, 300)],
)
def test_lockout_is_free_then_doubles_from_the_base_up_to_the_cap(
    failures: int, seconds: float
) -> None:
    assert lockout_seconds(failures, POLICY) == seconds


def test_an_attempt_is_counted_when_admitted_and_the_fifth_locks_for_the_base() -> None:
    bucket = Lockout()
    for n in range(1, 5):
        admission, bucket = admit_lockout(bucket, at(0), POLICY)
        assert admission.allowed
        assert bucket == Lockout(n, None, at(0))
    admission, bucket = admit_lockout(bucket, at(0), POLICY)
    assert admission.allowed and bucket.failures == 5
    assert bucket.locked_until == at(1)


def test_a_locked_bucket_refuses_with_retry_after_and_counts_nothing() -> None:
    locked = Lockout(7, at(4), at(0))
    admission, after = admit_lockout(locked, at(0.2), POLICY)
    assert not admission.allowed
    assert admission.retry_after_seconds == 4  # 3.8 s rounded up
    assert after == locked
    # At the end of the lockout the next attempt is admitted and locks twice as long.
    admission, after = admit_lockout(locked, at(4), POLICY)
    assert admission.allowed
    assert after == Lockout(8, at(4 + 8), at(4))


def test_concurrent_attempts_admitted_one_by_one_reach_the_check_at_most_five_times() -> None:
    # Twenty attempts arriving together: each is admitted (or not) after the previous one was
    # stored, which is what the row lock gives; none has finished its check yet.
    bucket, admitted = Lockout(), 0
    for _ in range(20):
        admission, bucket = admit_lockout(bucket, at(0.01), POLICY)
        admitted += admission.allowed
    assert admitted == 5


def test_failures_are_forgotten_after_a_quiet_window() -> None:
    bucket = Lockout(4, None, at(0))
    _, after = admit_lockout(bucket, at(899), POLICY)
    assert after.failures == 5
    _, after = admit_lockout(bucket, at(900), POLICY)
    assert after.failures == 1 and after.locked_until is None


def test_a_success_takes_back_only_its_own_attempt() -> None:
    _, counted = admit_lockout(Lockout(4, None, at(0)), at(1), POLICY)
    assert counted.locked_until is not None
    assert undo_lockout(counted) == Lockout(4, None, at(1))
    assert undo_lockout(Lockout()).failures == 0


def test_the_address_bucket_holds_max_failures_then_refuses_until_one_drains() -> None:
    bucket, admitted = Leak(), 0
    for _ in range(130):
        admission, bucket = admit_leak(bucket, at(0), POLICY.per_address)
        admitted += admission.allowed
    assert admitted == 100
    admission, _ = admit_leak(bucket, at(0), POLICY.per_address)
    assert not admission.allowed
    assert admission.retry_after_seconds == 9  # one failure drains every 900 / 100 s
    admission, _ = admit_leak(bucket, at(9), POLICY.per_address)
    assert admission.allowed


def test_the_address_bucket_empties_in_one_window() -> None:
    full = Leak(100.0, at(0))
    admission, after = admit_leak(full, at(900), POLICY.per_address)
    assert admission.allowed and after.level == 1


def test_a_success_takes_one_failure_out_of_the_address_bucket_not_all() -> None:
    _, counted = admit_leak(Leak(50.0, at(0)), at(0), POLICY.per_address)
    assert counted.level == 51
    assert undo_leak(counted, at(0), POLICY.per_address).level == 50
    assert undo_leak(Leak(0.5, at(0)), at(0), POLICY.per_address).level == 0
