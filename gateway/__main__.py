"""``python -m gateway``: the gateway under uvicorn (uvloop, httptools), JSON logs only.

With ``GATEWAY_WORKERS`` above 1 this process only keeps that many gateway processes running,
each binding the port with SO_REUSEPORT (the kernel spreads new connections over the live ones):
one worker that dies costs the connections it held, not the port. ``GATEWAY_REUSE_PORT`` alone
lets separately supervised gateways share the port the same way (the HA topology runs two).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

import uvicorn

from gateway.limits import ConnectionLimits, limited_protocol
from gateway.main import create_app
from gateway.settings import GatewaySettings
from servicekit.logging import configure_logging, get_logger

log = get_logger("gateway")

# prctl(PR_SET_PDEATHSIG): a worker gets SIGTERM when its parent dies, even by SIGKILL, so no
# orphan keeps serving the port with nobody supervising it.
_PR_SET_PDEATHSIG = 1


def main() -> None:
    """Serve the gateway until SIGTERM/SIGINT; shutdown leaves Eureka and drains requests."""
    settings = GatewaySettings()
    configure_logging("gateway", level=settings.log_level)
    if settings.workers > 1:
        sys.exit(run_workers(settings.workers))
    serve(settings)


def serve(settings: GatewaySettings) -> None:
    """One gateway process on its own event loop."""
    config = uvicorn.Config(
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
    server = uvicorn.Server(config)
    if not settings.reuse_port:
        server.run()
        return
    server.run(sockets=[shared_listener(settings.host, settings.port)])


def shared_listener(host: str, port: int) -> socket.socket:
    """A listening socket on host:port that other processes may bind too (SO_REUSEPORT)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.listen(2048)
    return sock


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def run_workers(count: int) -> int:
    """Keep ``count`` gateway processes running until SIGTERM/SIGINT, then stop them all."""
    stopping = False

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        log.info("gateway_workers_stopping", signal=signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    env = {**os.environ, "GATEWAY_WORKERS": "1", "GATEWAY_REUSE_PORT": "true"}

    def spawn(index: int) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway"],
            env=env,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - this process runs no threads
        )
        log.info("gateway_worker_started", worker=index, pid=process.pid)
        return process

    workers = {index: spawn(index) for index in range(count)}
    restart_after: dict[int, float] = {}
    backoff: dict[int, float] = dict.fromkeys(workers, 0.5)
    while not stopping:
        time.sleep(0.2)
        for index, process in list(workers.items()):
            code = process.poll()
            if code is None or stopping:
                continue
            if index not in restart_after:
                log.warning("gateway_worker_exited", worker=index, exit_code=code)
                restart_after[index] = time.monotonic() + backoff[index]
            if time.monotonic() >= restart_after[index]:
                del restart_after[index]
                backoff[index] = min(backoff[index] * 2, 10.0)
                workers[index] = spawn(index)
    for process in workers.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in workers.values():
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    return 0


if __name__ == "__main__":
    main()
