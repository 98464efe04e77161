"""Live status of orders: who watches which order, and one read per change shared by every
stream that watches it.

The database announces each committed change of an order (NOTIFY ``order_changed`` with the
order id). One listener per instance (adapters/order_changes.py) hears them in its thread and
hands them to a :class:`ChangeFeed`, which reads the changed orders somebody watches (every
changed order while a staff board is open), a batch per statement, right there in the
listener's thread; the states read go to :class:`OrderStreams` on the event loop, which offers
each to the streams of its order and to every board. Notifications that arrive during a read
are taken together afterwards (one more read, not one per notification), and reads follow one
another, so no stream ever gets an order's state after a newer one. A stream holds only the
newest unsent state of each order: a slow client never makes memory grow. No database, web
framework or thread of its own here: the reader is given.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import Counter, Gauge

from servicekit.logging import get_logger

log = get_logger(__name__)

STREAMS_OPEN = Gauge("order_streams_open", "Live status streams open on this instance.", ["kind"])
STREAMS_REFUSED = Counter(
    "order_streams_refused_total", "Live status streams refused: ORDER_STREAMS_MAX were open."
)
STREAM_READS = Counter(
    "order_stream_reads_total", "Orders read for live status streams after a change."
)
STREAM_READ_FAILURES = Counter(
    "order_stream_read_failures_total", "Reads for live status streams that failed (retried)."
)

# Orders read per statement.
READ_BATCH = 100
# Orders a staff board may have waiting unsent; a board that falls this far behind is ended
# (its client reconnects and reloads the list), rather than holding unbounded memory.
BOARD_BACKLOG = 10_000


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An order as one read found it: the JSON body GET /api/orders/{order_id} answers with,
    the version of its row (one more on every write) and whether the order is in a final state."""

    order_id: str
    version: int
    final: bool
    body: bytes


# Reads the given orders (those that exist) as snapshots; blocking (the listener's thread).
Reader = Callable[[list[str]], list[Snapshot]]


class StreamsFull(Exception):
    """503: this instance already serves ORDER_STREAMS_MAX streams."""


class Watch:
    """One open stream: of one order (``order_id``), or of every order (``order_id`` None)."""

    def __init__(self, order_id: str | None) -> None:
        self.order_id = order_id
        self._pending: dict[str, Snapshot] = {}
        self._wake = asyncio.Event()
        self.closed = False
        # Set when changes may have been missed (the listener reconnected): a board reloads.
        self.resync = False
        # Set when a board fell BOARD_BACKLOG orders behind, or the instance shuts down.
        self.ended = False

    def offer(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` to send unless a newer state of its order already waits."""
        held = self._pending.get(snapshot.order_id)
        if held is None or snapshot.version > held.version:
            self._pending[snapshot.order_id] = snapshot
            if len(self._pending) > BOARD_BACKLOG:
                self._pending.clear()
                self.ended = True
            self._wake.set()

    def poke(self) -> None:
        """Wake the stream to look at its flags."""
        self._wake.set()

    async def next(self, timeout: float) -> list[Snapshot] | None:  # noqa: ASYNC109
        """What waits to be sent, oldest first; None if nothing came within ``timeout``."""
        if not self._pending and not (self.resync or self.ended):
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                return None
        self._wake.clear()
        taken = list(self._pending.values())
        self._pending.clear()
        return taken


class OrderStreams:
    """The open streams of this instance, at most ``max_streams``. Opening and closing streams
    and delivering states happen on the event loop; the ``*_threadsafe`` methods and
    :meth:`wanted` may be called from any thread."""

    def __init__(self, *, max_streams: int, heartbeat_seconds: float) -> None:
        self.max_streams = max_streams
        # How long a stream stays silent before it sends a keep-alive comment.
        self.heartbeat_seconds = heartbeat_seconds
        self._by_order: dict[str, set[Watch]] = {}
        self._everything: set[Watch] = set()
        self._open = 0
        # Replaced, never changed in place: other threads read them without a lock.
        self._watched: frozenset[str] = frozenset()
        self._boards = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ending = False  # the instance shuts down: no new streams

    @property
    def open_count(self) -> int:
        """Streams open now."""
        return self._open

    def watched(self) -> frozenset[str]:
        """The orders somebody watches (any thread)."""
        return self._watched

    def wanted(self, order_ids: Iterable[str]) -> list[str]:
        """Which of these changed orders to read (any thread): the watched ones, or all of them
        while a board is open."""
        if self._boards:
            return list(order_ids)
        watched = self._watched
        return [order_id for order_id in order_ids if order_id in watched]

    # -- on the event loop -------------------------------------------------------------------

    def open(self, order_id: str | None) -> Watch:
        """Register a stream of one order (or of every order: None); StreamsFull beyond the
        limit. Register before reading the first state, so no change falls in between."""
        if self._ending:
            raise StreamsFull("this instance is shutting down")
        if self._open >= self.max_streams:
            STREAMS_REFUSED.inc()
            raise StreamsFull(f"this instance already serves {self.max_streams} live streams")
        self._loop = asyncio.get_running_loop()
        watch = Watch(order_id)
        if order_id is None:
            self._everything.add(watch)
            self._boards = len(self._everything)
        else:
            if order_id not in self._by_order:
                self._by_order[order_id] = set()
                self._watched = frozenset(self._by_order)
            self._by_order[order_id].add(watch)
        self._open += 1
        STREAMS_OPEN.labels(_kind(watch)).inc()
        return watch

    def close(self, watch: Watch) -> None:
        """Forget a stream (its client left, or it ended); closing twice does nothing."""
        if watch.closed:
            return
        watch.closed = True
        if watch.order_id is None:
            self._everything.discard(watch)
            self._boards = len(self._everything)
        else:
            watchers = self._by_order.get(watch.order_id)
            if watchers is not None:
                watchers.discard(watch)
                if not watchers:
                    del self._by_order[watch.order_id]
                    self._watched = frozenset(self._by_order)
        self._open -= 1
        STREAMS_OPEN.labels(_kind(watch)).dec()

    def deliver(self, snapshots: Iterable[Snapshot]) -> None:
        """Offer each state read to the streams of its order and to every board."""
        for snapshot in snapshots:
            for watch in self._by_order.get(snapshot.order_id, ()):
                watch.offer(snapshot)
            for watch in self._everything:
                watch.offer(snapshot)

    def tell_boards_to_reload(self) -> None:
        """Changes may have been missed: every board gets a ``resync`` and reloads its list."""
        for watch in self._everything:
            watch.resync = True
            watch.poke()

    def end_all(self) -> None:
        """End every stream and open no more (the instance shuts down; clients reconnect to
        another)."""
        self._ending = True
        for watch in [*self._everything, *(w for ws in self._by_order.values() for w in ws)]:
            watch.ended = True
            watch.poke()

    # -- from any thread ---------------------------------------------------------------------

    def deliver_threadsafe(self, snapshots: list[Snapshot]) -> None:
        """:meth:`deliver`, from the listener's thread."""
        self._call_soon(self.deliver, snapshots)

    def tell_boards_to_reload_threadsafe(self) -> None:
        """:meth:`tell_boards_to_reload`, from the listener's thread."""
        self._call_soon(self.tell_boards_to_reload)

    def end_all_threadsafe(self) -> None:
        """:meth:`end_all`, from any thread."""
        self._call_soon(self.end_all)

    def _call_soon(self, callback: Callable[..., None], *args: object) -> None:
        loop = self._loop
        if loop is None:
            return  # no stream was ever opened: nobody to tell
        with contextlib.suppress(RuntimeError):  # the loop closed: the process is stopping
            loop.call_soon_threadsafe(callback, *args)


class ChangeFeed:
    """The listener's side (its thread): reads what changed for the streams that watch it."""

    def __init__(self, streams: OrderStreams, read: Reader) -> None:
        self._streams = streams
        self._read = read
        self._failed: set[str] = set()  # read failed: tried again on the next change or tick

    def changed(self, order_ids: Iterable[str]) -> None:
        """These orders changed (each once, however often it was announced)."""
        self._read_for_streams(self._streams.wanted({*order_ids, *self._failed}))

    def resync(self) -> None:
        """Changes may have been missed (nobody listened): read every watched order once,
        and tell the boards to reload."""
        self._streams.tell_boards_to_reload_threadsafe()
        self._read_for_streams(list(self._streams.watched()))

    def tick(self) -> None:
        """Nothing was announced for a while: try a failed read again."""
        if self._failed:
            self.changed(())

    def _read_for_streams(self, order_ids: list[str]) -> None:
        self._failed.clear()
        for start in range(0, len(order_ids), READ_BATCH):
            batch = order_ids[start : start + READ_BATCH]
            try:
                snapshots = self._read(batch)
            except Exception as exc:  # noqa: BLE001 - the database may be away: retried
                STREAM_READ_FAILURES.inc()
                log.warning("order_stream_read_failed", error=type(exc).__name__)
                self._failed.update(order_ids[start:])
                return
            STREAM_READS.inc(len(snapshots))
            if snapshots:
                self._streams.deliver_threadsafe(snapshots)


def _kind(watch: Watch) -> str:
    return "all" if watch.order_id is None else "order"
