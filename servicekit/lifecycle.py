"""Background loops that cannot die quietly.

A consumer or sender thread that ends while its process keeps serving HTTP is the worst kind of
outage: ``/health`` may say so, but the supervisor sees a RUNNING process and nothing restarts it.
So every background loop runs through :class:`BackgroundThreads`: one that raises, or returns
while the process is not stopping, asks the process to exit with :data:`EXIT_THREAD_DIED`
(non-zero), and the supervisor (supervisord, Docker's restart policy, Kubernetes) starts a fresh
one. The loops themselves retry what is worth retrying (a broker or database outage) for as long as
it takes; this is the net under them.

How the process exits is the entry point's business: it registers a handler with
:func:`on_exit_requested` (the web entry point asks uvicorn to shut down gracefully, the relay sets
its stop event). If nothing stops the process within :data:`FORCED_EXIT_AFTER_SECONDS`, it is cut
off with ``os._exit``: a wedged shutdown must not keep a dead process alive.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from servicekit.failpoints import failpoint
from servicekit.logging import get_logger

log = get_logger(__name__)

# What a process exits with when one of its background loops died (EX_SOFTWARE in sysexits.h).
EXIT_THREAD_DIED = 70
FORCED_EXIT_AFTER_SECONDS = 45.0

Loop = Callable[[threading.Event], None]

_lock = threading.Lock()
_handlers: list[Callable[[], None]] = []
_exit_code = 0
_on_shutdown: list[Callable[[], None]] = []
_shutting_down = False


def on_exit_requested(handler: Callable[[], None]) -> None:
    """Call ``handler`` (from any thread) when the process is asked to exit; it should start a
    graceful shutdown and return at once."""
    with _lock:
        _handlers.append(handler)


def on_shutdown(handler: Callable[[], None]) -> None:
    """Call ``handler`` once the process starts shutting down (SIGTERM, or :func:`request_exit`),
    before the server waits for the requests in flight: a response that would not end by itself
    (a live stream) ends now, so that shutting down takes no longer than the rest. From any
    thread, the signal handler's included: it must return at once."""
    with _lock:
        _on_shutdown.append(handler)


def shutting_down() -> None:
    """Tell every :func:`on_shutdown` handler, the first time only. No lock: this runs in a
    signal handler, which may interrupt the main thread while it holds one."""
    global _shutting_down  # noqa: PLW0603 - one process, one shutdown
    if _shutting_down:
        return
    _shutting_down = True
    for handler in list(_on_shutdown):
        try:
            handler()
        except Exception:
            log.exception("shutdown_handler_failed")


def requested_exit_code() -> int:
    """The exit code asked for by :func:`request_exit`, or 0."""
    return _exit_code


def request_exit(code: int, reason: str) -> None:
    """Ask the process to exit with ``code``: a graceful shutdown, bounded by a forced exit."""
    global _exit_code  # noqa: PLW0603 - one process, one exit code
    with _lock:
        first = _exit_code == 0
        _exit_code = _exit_code or code
        handlers = list(_handlers)
    if not first:
        return
    log.critical("process_exit_requested", exit_code=code, reason=reason)
    shutting_down()
    for handler in handlers:
        try:
            handler()
        except Exception:
            log.exception("exit_handler_failed")
    watchdog = threading.Timer(FORCED_EXIT_AFTER_SECONDS, _force_exit, args=(code,))
    watchdog.daemon = True
    watchdog.start()
    if not handlers:
        _force_exit(code)


def _force_exit(code: int) -> None:
    log.critical("process_exit_forced", exit_code=code)
    os._exit(code)


class BackgroundThreads:
    """Starts loops in threads and watches them: a loop that ends before ``stop`` is set takes
    the process down (:func:`request_exit`), so that the supervisor restarts it."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.threads: list[threading.Thread] = []

    def start(self, name: str, loop: Loop) -> threading.Thread:
        """Run ``loop(stop)`` in a thread called ``name``."""
        thread = threading.Thread(target=self._run, args=(name, loop), name=name)
        thread.start()
        self.threads.append(thread)
        return thread

    def _run(self, name: str, loop: Loop) -> None:
        try:
            failpoint(f"thread.{name}")
            loop(self.stop)
        except BaseException as exc:
            log.critical("background_thread_died", thread=name, error=repr(exc), exc_info=exc)
            request_exit(EXIT_THREAD_DIED, f"thread {name} died")
            return
        if not self.stop.is_set():
            log.critical("background_thread_ended", thread=name)
            request_exit(EXIT_THREAD_DIED, f"thread {name} ended")

    def alive(self) -> dict[str, bool]:
        """Each thread's name and whether it still runs."""
        return {thread.name: thread.is_alive() for thread in self.threads}

    def join(self, timeout: float) -> None:
        """Wait for every thread, at most ``timeout`` seconds each."""
        for thread in self.threads:
            thread.join(timeout)
