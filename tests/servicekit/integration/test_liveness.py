"""The liveness rule: a background loop (consumer, sender, sweeper) that ends while its process
keeps serving is an outage nobody sees, so the process exits non-zero and the supervisor starts
a fresh one. Real service processes, each with one thread made to die by a failpoint."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from servicekit.lifecycle import EXIT_THREAD_DIED
from tests.support import ManagedProcess, free_port, scratch_database, sqlalchemy_url, wait_for

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("package", "prefix", "thread"),
    [
        ("user_service", "USER", "consumer-user-service"),
        ("order_service", "ORDER", "worker-saga_timeouts"),
        ("notification_service", "NOTIFICATION", "worker-send_notifications"),
    ],
)
def test_a_background_thread_that_dies_takes_its_process_down(
    engines: None, artifacts: Path, package: str, prefix: str, thread: str
) -> None:
    port = free_port()
    with scratch_database(migrations=package) as url:
        service = ManagedProcess(
            [sys.executable, "-m", package],
            {
                f"{prefix}_PORT": str(port),
                f"{prefix}_DATABASE_URL": sqlalchemy_url(url),
                "EUREKA_ENABLED": "false",
                "SERVICEKIT_FAILPOINTS": f"thread.{thread}=raise",
            },
            artifacts / f"{package}.log",
            http_port=port,
        ).start()
        process = service.process
        assert process is not None
        try:
            wait_for(lambda: process.poll() is not None, timeout=60, what=f"{package} to exit")
        finally:
            if process.poll() is None:
                process.kill()
        output = service.output()
        assert process.returncode == EXIT_THREAD_DIED, output[-3000:]
        assert '"event":"background_thread_died"' in output
        assert f'"thread":"{thread}"' in output
        # It left the way a SIGTERM would have it leave: lifespan shutdown ran.
        assert '"event":"service_stopped"' in output
