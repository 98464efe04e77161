"""Failpoints stay inert unless armed; retry backoff grows and is capped."""

from __future__ import annotations

import pytest

from servicekit import failpoints
from servicekit.messaging.inbox import RetryPolicy


def test_unarmed_failpoint_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(failpoints.ENV_VAR, "")
    failpoints._armed.cache_clear()
    failpoints.failpoint("anything")


def test_armed_failpoint_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(failpoints.ENV_VAR, "a.b=raise, other=kill")
    failpoints._armed.cache_clear()
    try:
        with pytest.raises(failpoints.FailpointError, match=r"a\.b"):
            failpoints.failpoint("a.b")
        failpoints.failpoint("not.armed")
    finally:
        failpoints._armed.cache_clear()


def test_backoff_is_exponential_and_capped() -> None:
    policy = RetryPolicy(max_attempts=10, initial_backoff=0.1, max_backoff=1.0)
    assert [policy.backoff(n) for n in (1, 2, 3, 4, 5, 6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
