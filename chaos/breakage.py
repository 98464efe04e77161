"""``--break``: run the round against a deliberately broken relay, to see the checker fail.

The supervised relay (every instance of it) is stopped, and one started in its place with the
chaos-only failpoint ``relay.publish_twice_as_new=on``: it publishes every event a second time
under a new event id, which no inbox can tell from a new event. Afterwards the broken relay is
stopped and the supervised ones started again, whatever happened in between.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from devstack import layout, supervisor, topology
from devstack.cli import readiness, wait_ready
from servicekit.failpoints import ENV_VAR

BROKEN_RELAY = "relay.publish_twice_as_new=on"


def _environment(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)
    return dict(pairs)


def _command(pid: int) -> list[str]:
    return [part for part in Path(f"/proc/{pid}/cmdline").read_text().split("\0") if part]


def _healthy(port: str) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def broken_relay(ready_within: float = 60.0) -> Iterator[str]:
    """While inside: a relay that publishes every event twice runs instead of the supervised
    ones; yields the name of the program it replaces."""
    rpc = supervisor.rpc()
    relays = [
        info
        for info in rpc.getAllProcessInfo()
        if info["name"].startswith("outbox_relay") and info["statename"] == "RUNNING"
    ]
    if not relays:
        raise RuntimeError("no outbox_relay runs under supervisord: nothing to break")
    first = relays[0]
    environment = {**_environment(first["pid"]), ENV_VAR: BROKEN_RELAY}
    command = _command(first["pid"])
    for info in relays:
        rpc.stopProcess(info["name"], True)
    log_path = layout.LOG_DIR / "outbox_relay-broken.log"
    with log_path.open("ab") as log:
        broken = subprocess.Popen(  # the supervised relay's own command line
            command,
            env=environment,
            cwd=layout.REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        port = environment.get("RELAY_HTTP_PORT", str(layout.RELAY_HTTP_PORT))
        deadline = ready_within
        while not _healthy(port):
            if broken.poll() is not None:
                raise RuntimeError(f"the broken relay exited ({broken.returncode}): {log_path}")
            deadline -= 0.25
            if deadline <= 0:
                raise RuntimeError(f"the broken relay is not healthy after {ready_within:.0f} s")
            time.sleep(0.25)
        yield first["name"]
    finally:
        if broken.poll() is None:
            os.killpg(broken.pid, signal.SIGTERM)
            try:
                broken.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(broken.pid, signal.SIGKILL)
                broken.wait()
        for info in relays:
            supervisor.start(info["name"])
        shape = topology.read_topology()
        for info in relays:
            if info["name"] in readiness(shape):
                wait_ready(info["name"], shape)
