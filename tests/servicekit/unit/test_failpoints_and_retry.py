"""Failpoints stay inert unless armed; retry backoff grows and is capped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from servicekit import failpoints
from servicekit.messaging.inbox import RetryPolicy
from tests.support import wait_for


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


_STOPPING_THREAD = """
import sys, threading
from servicekit.failpoints import failpoint

def work():
    failpoint("hang.here")
    with open(sys.argv[1], "w") as out:
        out.write("went on")

worker = threading.Thread(target=work)
worker.start()
worker.join()
"""


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_stop_point_stops_the_thread_that_reached_it_before_its_next_line(
    tmp_path: Path,
) -> None:
    # Reached by a worker thread while the main thread waits in join(): the worker must not
    # run a line past the point before the process is stopped.
    after = tmp_path / "after"
    env = {**os.environ, failpoints.ENV_VAR: "hang.here=stop"}
    child = subprocess.Popen([sys.executable, "-c", _STOPPING_THREAD, str(after)], env=env)
    try:
        wait_for(lambda: _state(child.pid) in ("T", "t"), timeout=30, what="the process stops")
        assert not after.exists()
        os.kill(child.pid, signal.SIGCONT)
        assert child.wait(timeout=30) == 0
        assert after.read_text() == "went on"
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGCONT)
            child.kill()
            child.wait()
