"""Named crash points for fault-injection tests and the chaos kit.

A failpoint does nothing unless the environment arms it: ``SERVICEKIT_FAILPOINTS`` holds
``name=action`` pairs separated by commas, where action is ``kill`` (SIGKILL this process, as a
power cut would), ``stop`` (SIGSTOP this process the first time the point is reached, as a hang
would; SIGCONT resumes it) or ``raise`` (raise :class:`FailpointError`). A fourth action, ``on``,
switches on a deliberately broken behaviour that the code asks for with :func:`switched_on` (the
chaos kit's ``--break`` shows its checker catches it). Production never sets it; the cost of an
unarmed failpoint is one dict lookup.
"""

from __future__ import annotations

import os
import signal
import threading
from functools import cache

ENV_VAR = "SERVICEKIT_FAILPOINTS"


class FailpointError(RuntimeError):
    """Raised by a failpoint armed with the ``raise`` action."""


# The stop points already taken: a resumed process goes on instead of stopping again.
_stopped: set[str] = set()


@cache
def _armed() -> dict[str, str]:
    spec = os.environ.get(ENV_VAR, "")
    pairs = (item.split("=", 1) for item in spec.split(",") if "=" in item)
    return {name.strip(): action.strip() for name, action in pairs}


def failpoint(name: str) -> None:
    """Crash here if the environment armed this failpoint."""
    action = _armed().get(name)
    if action is None:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if action == "stop" and name not in _stopped:
        _stopped.add(name)
        # Sent to this thread, not to the process: a process-directed SIGSTOP is taken by
        # whichever thread the kernel picks (the main one), and the group stop begins only when
        # that thread runs, so on a busy machine this thread went on past the point for a while
        # (a relay marked the batch it was meant to hang before). A thread-directed one is taken
        # on the way back from this very call, and the whole process stops with it.
        signal.pthread_kill(threading.get_ident(), signal.SIGSTOP)
    if action == "raise":
        raise FailpointError(name)


def switched_on(name: str) -> bool:
    """True if the environment switched on this deliberately broken behaviour (``name=on``)."""
    return _armed().get(name) == "on"
