"""Running a service app under uvicorn, the same way for every service."""

from __future__ import annotations

import uvicorn

from servicekit.logging import configure_logging
from servicekit.web import HttpServiceSettings


def serve(factory: str, settings: HttpServiceSettings, *, name: str) -> None:
    """uvicorn with uvloop/httptools, our JSON logging, and a bounded graceful shutdown."""
    configure_logging(name, level=settings.log_level)
    uvicorn.run(
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
    )
