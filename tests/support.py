"""Helpers for tests against the real engines: throw-away databases, relay processes, and
condition-based waiting (never a fixed sleep)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg2
from confluent_kafka import Consumer, TopicPartition
from psycopg2 import sql
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from devstack import layout
from servicekit.messaging.schema import MESSAGING_DDL

REPO = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def wait_for(
    condition: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll ``condition`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def scratch_database(prefix: str = "t", *, migrations: str | None = None) -> Iterator[str]:
    """A new database with the messaging tables, or at the head of a service package's
    ``migrations`` (which create them); dropped afterwards. Yields its libpq URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    # Throw-away databases belong to the bootstrap superuser, as the tests that use them need.
    admin = psycopg2.connect(layout.admin_url("postgres"))
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = layout.admin_url(name)
        if migrations is not None:
            from servicekit.migrations import upgrade

            upgrade(migrations, sqlalchemy_url(url))
        else:
            with psycopg2.connect(url) as conn, conn.cursor() as cur:
                cur.execute(MESSAGING_DDL)
        yield url
    finally:
        with admin.cursor() as cur:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        admin.close()


@contextmanager
def scratch_sessions(prefix: str, *, migrations: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on a :func:`scratch_database` at the head of ``migrations``; its engine is
    disposed of before the database is dropped."""
    with scratch_database(prefix, migrations=migrations) as url:
        engine = create_engine(sqlalchemy_url(url))
        try:
            yield sessionmaker(engine, expire_on_commit=False)
        finally:
            engine.dispose()


def sqlalchemy_url(libpq_url: str) -> str:
    """The SQLAlchemy spelling of a libpq URL."""
    return libpq_url.replace("postgresql://", "postgresql+psycopg2://", 1)


@dataclass
class ManagedProcess:
    """A platform process started by a test, with its output kept for failure messages."""

    args: list[str]
    env: dict[str, str]
    log_path: Path
    http_port: int | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> ManagedProcess:
        """Start the process; its output goes to log_path."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.args,
            cwd=REPO,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    def health(self) -> dict[str, Any] | None:
        """The /health body, or None while it does not answer."""
        assert self.http_port is not None
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.http_port}/health", timeout=1
            ) as r:
                return dict(json.loads(r.read()))
        except urllib.error.HTTPError as exc:
            return dict(json.loads(exc.read()))
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample on /metrics (0 when absent)."""
        assert self.http_port is not None
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=2) as r:
            text = r.read().decode()
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            if line.startswith(f"{name}{{{wanted}}} ") or (
                not labels and line.startswith(f"{name} ")
            ):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def kill9(self) -> None:
        """SIGKILL, as a power cut would."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return int(self.process.returncode)

    def output(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def relay_process(
    databases: dict[str, str], log_path: Path, *, failpoints: str = "", **settings: Any
) -> ManagedProcess:
    """An outbox relay process for the given databases (not started)."""
    port = free_port()
    env = {
        "RELAY_DATABASES": json.dumps(databases),
        "RELAY_HTTP_PORT": str(port),
        "KAFKA_BOOTSTRAP_SERVERS": layout.KAFKA_BOOTSTRAP,
        "SERVICEKIT_FAILPOINTS": failpoints,
    }
    env.update({f"RELAY_{key.upper()}": str(value) for key, value in settings.items()})
    return ManagedProcess([sys.executable, "-m", "outbox_relay"], env, log_path, http_port=port)


class TopicReader:
    """Reads a topic from the beginning with a private consumer group."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.consumer = Consumer(
            {
                "bootstrap.servers": layout.KAFKA_BOOTSTRAP,
                "group.id": f"test-reader-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                # The topic is often created after this subscribes (the relay creates it on its
                # first publish): look for it every second, not every 5 minutes (the default).
                "topic.metadata.refresh.interval.ms": 1000,
            }
        )
        self.consumer.subscribe([topic])
        self.messages: list[Any] = []

    def poll(self, seconds: float = 0.2) -> None:
        """Read whatever arrived within ``seconds``."""
        for message in self.consumer.consume(1000, seconds):
            if message.error() is None:
                self.messages.append(message)

    def read_until(
        self, condition: Callable[[list[Any]], bool], timeout: float = 60.0
    ) -> list[Any]:
        """Poll until ``condition(messages)`` holds."""

        checked = -1

        def check() -> bool:
            nonlocal checked
            self.poll()
            if len(self.messages) == checked:  # nothing new: the answer cannot have changed
                return False
            checked = len(self.messages)
            return condition(self.messages)

        wait_for(check, timeout=timeout, interval=0, what=f"messages on {self.topic}")
        return self.messages

    def close(self) -> None:
        """Leave the group."""
        self.consumer.close()


def headers_of(message: Any) -> dict[str, str]:
    """Kafka headers as a str dict."""
    return {key: value.decode() for key, value in (message.headers() or [])}


def committed_offsets(group: str, topic: str, partitions: int) -> dict[int, int]:
    """The group's committed offset per partition (-1001 when none)."""
    consumer = Consumer({"bootstrap.servers": layout.KAFKA_BOOTSTRAP, "group.id": group})
    try:
        result = consumer.committed(
            [TopicPartition(topic, p) for p in range(partitions)], timeout=10
        )
        return {tp.partition: tp.offset for tp in result}
    finally:
        consumer.close()


class TcpForwarder:
    """A TCP port that forwards to ``target`` once opened: a dependency that is down (nothing
    listens on the port yet) and comes back (``open()``), without stopping the shared engine;
    or, with ``source`` (another loopback address), a client the target sees as another host."""

    def __init__(self, target: tuple[str, int], *, source: str | None = None) -> None:
        self.target = target
        self.source = source  # the address the target sees the connections come from
        self.port = free_port()
        self._listener: socket.socket | None = None

    def open(self) -> None:
        """Start accepting and forwarding connections."""
        listener = socket.create_server(("127.0.0.1", self.port))
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        """Stop accepting (connections already forwarded run until either side closes)."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                source = (self.source, 0) if self.source else None
                upstream = socket.create_connection(self.target, timeout=5, source_address=source)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for reader, writer in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(reader, writer), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
