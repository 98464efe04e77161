"""The one listener per instance for committed order changes: LISTEN ``order_changed`` on a
dedicated connection and hand the order ids to the live status streams' feed.

The orders table's trigger (migration 0005) notifies on every committed insert or update, with
the order id as payload. This loop runs in a background thread (servicekit.lifecycle: if it
dies, the process exits and its supervisor restarts it); it waits on the connection's socket,
so it costs nothing while nothing changes, and takes every notification that arrived at once;
the feed reads the changed orders in this same thread (application/live.py). When the
connection breaks (a database restart), it reconnects with backoff, and then has every
streamed order read again: changes committed meanwhile were announced to nobody.
"""

from __future__ import annotations

import select
import threading
from collections.abc import Iterable
from typing import Protocol

import psycopg2
import psycopg2.extensions
from prometheus_client import Counter, Gauge
from sqlalchemy.engine import make_url

from servicekit.logging import get_logger

log = get_logger(__name__)

# The channel the trigger of migration 0005 notifies on.
CHANNEL = "order_changed"
# How long one wait on the socket lasts, so that a stop is seen within it.
WAIT_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 10.0

LISTENER_CONNECTED = Gauge(
    "order_change_listener_connected", "1 while the order change listener is connected."
)
LISTENER_RECONNECTS = Counter(
    "order_change_listener_reconnects_total",
    "Times the order change listener lost its database connection and connected again.",
)


class Feed(Protocol):
    """Where the listener hands what it hears (application.live.ChangeFeed)."""

    def changed(self, order_ids: Iterable[str]) -> None:
        """These orders changed."""
        ...

    def resync(self) -> None:
        """Changes may have been missed: nobody listened for a while."""
        ...

    def tick(self) -> None:
        """Nothing was heard for WAIT_SECONDS."""
        ...


def libpq_dsn(database_url: str) -> str:
    """The libpq form of a SQLAlchemy URL (``postgresql+psycopg2://...``)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class OrderChangeListener:
    """Hands each batch of changed order ids to the feed, and asks it to resync after every
    (re)connection."""

    def __init__(
        self, dsn: str, feed: Feed, *, application_name: str = "order-service:order-changes"
    ) -> None:
        self._dsn = dsn
        self._feed = feed
        self._application_name = application_name
        self.connected = threading.Event()

    def run(self, stop: threading.Event) -> None:
        """Listen until ``stop`` is set; reconnect with backoff after any database error."""
        backoff = 0.5
        connections = 0
        while not stop.is_set():
            conn: psycopg2.extensions.connection | None = None
            try:
                conn = self._connect()
                connections += 1
                if connections > 1:
                    LISTENER_RECONNECTS.inc()
                log.info("order_change_listener_connected")
                backoff = 0.5
                self._listen(conn, stop)
            except psycopg2.Error as exc:
                log.warning(
                    "order_change_listener_disconnected",
                    error=str(exc).strip() or type(exc).__name__,
                    retry_in=backoff,
                )
                stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            finally:
                self.connected.clear()
                LISTENER_CONNECTED.set(0)
                if conn is not None:
                    conn.close()

    def _connect(self) -> psycopg2.extensions.connection:
        conn = psycopg2.connect(
            self._dsn,
            application_name=self._application_name,
            connect_timeout=5,
            # A peer that vanished without closing (a network cut) is noticed within a minute.
            keepalives=1,
            keepalives_idle=15,
            keepalives_interval=5,
            keepalives_count=3,
        )
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"LISTEN {CHANNEL}")
        return conn

    def _listen(self, conn: psycopg2.extensions.connection, stop: threading.Event) -> None:
        self.connected.set()
        LISTENER_CONNECTED.set(1)
        # Whatever changed while nobody listened (before the first connection, or while the
        # database was away) was announced to nobody.
        self._feed.resync()
        while not stop.is_set():
            readable, _, _ = select.select([conn], [], [], WAIT_SECONDS)
            if not readable:
                self._feed.tick()
                continue
            conn.poll()  # raises when the server went away
            if conn.notifies:
                order_ids = {notification.payload for notification in conn.notifies}
                conn.notifies.clear()
                self._feed.changed(order_ids)
