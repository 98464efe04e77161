"""A short chaos round on the running stack, as `make chaos` runs one: orders through the
gateway while processes are killed, paused and restarted, then every invariant must hold; and
the same checker against a deliberately broken relay must fail.

These tests hurt the stack on purpose, so they run last (tests/conftest.py) and each ends only
once the platform is quiet again: every program ready, every consumer caught up.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]


def chaos(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``python -m chaos`` with these options; its report goes to the test's output, also when
    the round overruns ``timeout`` (the report so far says which faults ran and what kept the
    platform from being quiet)."""
    try:
        finished = subprocess.run(
            [sys.executable, "-m", "chaos", "-v", *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as overran:
        print(_text(overran.stdout), _text(overran.stderr)[-5000:])
        pytest.fail(f"the chaos round overran {timeout:.0f} s; its report so far is above")
    print(finished.stdout, finished.stderr)
    return finished


def _text(output: bytes | str | None) -> str:
    """What a TimeoutExpired kept of an output (bytes, whatever ``text`` said)."""
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def test_a_round_of_faults_breaks_no_invariant() -> None:
    # 100 orders at 5/s, a fault every 2 s: ten faults (kill -9, SIGSTOP, broker and PostgreSQL
    # restarts) while orders come in.
    round_ = chaos(
        "--orders", "100", "--rate", "5", "--fault-every", "2", "--seed", "17", timeout=280
    )
    assert round_.returncode == 0, round_.stdout[-3000:]
    assert "every invariant holds" in round_.stdout
    assert round_.stdout.count(" fault t=") == 10


def test_the_checker_fails_on_a_relay_that_publishes_twice() -> None:
    broken = chaos("--orders", "20", "--rate", "10", "--fault-every", "0", "--break", timeout=240)
    assert broken.returncode == 1, broken.stdout[-3000:]
    violated = broken.stdout.splitlines()[-1]
    assert violated.startswith("VIOLATED:")
    # Each event went out twice under two ids: two authorizations and two mails per order.
    assert "one authorization per confirmed order" in violated
    assert "one notification per (event, channel)" in violated
