"""Running a service app under uvicorn, the same way for every service."""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

import uvicorn

from servicekit import lifecycle
from servicekit.logging import configure_logging
from servicekit.settings import HttpServiceSettings


class _Server(uvicorn.Server):
    """uvicorn's server, telling lifecycle.on_shutdown handlers as soon as a signal asks it to
    stop (before it waits for the requests in flight)."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        lifecycle.shutting_down()
        super().handle_exit(sig, frame)


def run_server(config: uvicorn.Config) -> None:
    """Serve until SIGTERM/SIGINT or until a background loop dies; in that case shut down
    gracefully (leave Eureka, finish requests) and exit non-zero, so the supervisor restarts us.

    uvicorn.run() cannot do the second part: it offers no way to stop from another thread, and
    re-raises the signal it caught, so the exit status would be the signal's.
    """
    server = _Server(config)

    def shut_down() -> None:
        server.should_exit = True

    lifecycle.on_exit_requested(shut_down)
    server.run()
    code = lifecycle.requested_exit_code()
    if code:
        sys.exit(code)


def serve(factory: str, settings: HttpServiceSettings, *, name: str, **options: Any) -> None:
    """uvicorn with uvloop/httptools, our JSON logging, and a bounded graceful shutdown."""
    configure_logging(name, level=settings.log_level)
    run_server(
        uvicorn.Config(
            factory,
            factory=True,
            host=settings.host,
            port=settings.port,
            log_config=None,  # servicekit.logging owns the handlers
            access_log=False,  # RequestContextMiddleware logs each request once, as JSON
            loop="uvloop",
            http="httptools",
            timeout_graceful_shutdown=15,
            proxy_headers=False,
            **options,
        )
    )
