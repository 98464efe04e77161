"""GATEWAY_WORKERS: several gateway processes share one port (SO_REUSEPORT) under a supervising
process that starts a worker again when it dies, and stops them all on SIGTERM."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import httpx
import pytest

from devstack import layout
from tests.support import ManagedProcess, free_port, wait_for

pytestmark = pytest.mark.integration


def children(pid: int) -> set[int]:
    """The live child processes of ``pid``."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    pids = {int(p) for p in path.read_text().split()} if path.exists() else set()
    return {p for p in pids if Path(f"/proc/{p}").exists() and not _zombie(p)}


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def answers(port: int) -> bool:
    """True when /health answers at all (without keys or registry it may say unavailable)."""
    try:
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
    except httpx.HTTPError:
        return False
    return True


def test_workers_share_the_port_and_a_dead_one_is_replaced(tmp_path: Path) -> None:
    port = free_port()
    gateway = ManagedProcess(
        [sys.executable, "-m", "gateway"],
        {
            "GATEWAY_PORT": str(port),
            "GATEWAY_WORKERS": "2",
            "EUREKA_URL": layout.EUREKA_URL,
            "EUREKA_ENABLED": "false",
            "JWKS_URL": f"http://127.0.0.1:{free_port()}/jwks.json",
        },
        tmp_path / "gateway.log",
        http_port=port,
    )
    gateway.start()
    assert gateway.process is not None
    parent = gateway.process.pid
    try:
        # Generous: each worker imports the whole gateway, and the machine may be busy.
        wait_for(
            lambda: len(children(parent)) == 2 and answers(port), timeout=120, what="two workers"
        )
        first, second = sorted(children(parent))
        os.kill(first, signal.SIGKILL)
        # Its socket closes when it has exited; a connection the kernel queued to it before
        # then is lost with it (what a dying worker costs), so count from there.
        wait_for(lambda: _zombie(first), what="the killed worker exited")
        # The other worker still holds the port: every new connection is answered.
        for _ in range(20):
            assert answers(port), gateway.output()[-2000:]
        wait_for(
            lambda: second in children(parent) and len(children(parent)) == 2,
            timeout=60,
            what="the dead worker replaced",
        )
        assert first not in children(parent)
        assert "gateway_worker_exited" in gateway.output()
    finally:
        workers = children(parent)
        assert gateway.stop() == 0
    assert not any(Path(f"/proc/{pid}").exists() and not _zombie(pid) for pid in workers)
