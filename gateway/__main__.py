"""``python -m gateway``: the gateway under uvicorn (uvloop, httptools), JSON logs only."""

from __future__ import annotations

import uvicorn

from gateway.limits import ConnectionLimits, limited_protocol
from gateway.main import create_app
from gateway.settings import GatewaySettings
from servicekit.logging import configure_logging


def main() -> None:
    """Serve the gateway until SIGTERM/SIGINT; shutdown leaves Eureka and drains requests."""
    settings = GatewaySettings()
    configure_logging("gateway", level=settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        # httptools, with the client limits (header and body size, read deadlines, connections
        # per client, TRACE/CONNECT refused) enforced on the connection, for every path.
        http=limited_protocol(ConnectionLimits.from_settings(settings)),
        ws="none",  # nothing behind the gateway speaks WebSocket: an upgrade is plain HTTP
        lifespan="on",
        log_config=None,  # keep servicekit's JSON handler
        access_log=False,  # the gateway writes its own access line, without the query string
        server_header=False,  # upstream responses are not relabelled as coming from uvicorn
        # The gateway is the edge: the client address is the peer's, never taken from an
        # X-Forwarded-For the client wrote (uvicorn trusts it from 127.0.0.1 by default).
        proxy_headers=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_seconds),
    )


if __name__ == "__main__":
    main()
