"""Live status of orders: who watches which order, and one read per change shared by every
stream that watches it.

The database announces each committed change of an order (NOTIFY ``order_changed`` with the
order id); one listener per instance (adapters/order_changes.py) hands the ids to
:class:`OrderStreams` on the event loop. It reads the changed orders somebody watches (every
changed order while a staff board is open), a batch at a time, and offers each result to the
streams of that order. A stream holds only the newest unsent state of each order, so a slow
client never makes memory grow, and states are read one batch after another, so no stream ever
gets an order's state after a newer one. No database, web framework or thread here: the reader
is given, and the listener calls the ``*_threadsafe`` methods.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
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

# Orders read per statement, and the pause after a failed read before it is tried again.
READ_BATCH = 100
RETRY_AFTER_FAILED_READ = 1.0
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


# Reads the given orders (those that exist) as snapshots.
Reader = Callable[[list[str]], Awaitable[list[Snapshot]]]


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
    """The open streams of this instance, at most ``max_streams``, and the reads that feed
    them."""

    def __init__(self, read: Reader, *, max_streams: int, heartbeat_seconds: float) -> None:
        self._read = read
        self.max_streams = max_streams
        # How long a stream stays silent before it sends a keep-alive comment.
        self.heartbeat_seconds = heartbeat_seconds
        self._by_order: dict[str, set[Watch]] = {}
        self._everything: set[Watch] = set()
        self._open = 0
        self._dirty: dict[str, None] = {}  # changed, not yet read (insertion-ordered set)
        self._reader: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def open_count(self) -> int:
        """Streams open now."""
        return self._open

    def watched(self) -> list[str]:
        """The orders somebody watches."""
        return list(self._by_order)

    # -- on the event loop -----------------------------------------------------------------------

    def open(self, order_id: str | None) -> Watch:
        """Register a stream of one order (or of every order: None); StreamsFull beyond the
        limit. Register before reading the first state, so no change falls in between."""
        if self._open >= self.max_streams:
            STREAMS_REFUSED.inc()
            raise StreamsFull(f"this instance already serves {self.max_streams} live streams")
        self._loop = asyncio.get_running_loop()
        watch = Watch(order_id)
        if order_id is None:
            self._everything.add(watch)
        else:
            self._by_order.setdefault(order_id, set()).add(watch)
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
        else:
            watchers = self._by_order.get(watch.order_id)
            if watchers is not None:
                watchers.discard(watch)
                if not watchers:
                    del self._by_order[watch.order_id]
        self._open -= 1
        STREAMS_OPEN.labels(_kind(watch)).dec()

    def changed(self, order_ids: Iterable[str]) -> None:
        """These orders changed: read the watched ones (every one while a board is open)."""
        for order_id in order_ids:
            if self._everything or order_id in self._by_order:
                self._dirty[order_id] = None
        if self._dirty and (self._reader is None or self._reader.done()):
            self._reader = asyncio.get_running_loop().create_task(self._read_changed())

    def resync(self) -> None:
        """Changes may have been missed: read every watched order once, tell boards to reload."""
        for watch in self._everything:
            watch.resync = True
            watch.poke()
        self.changed(list(self._by_order))

    def end_all(self) -> None:
        """End every stream (the instance shuts down; clients reconnect elsewhere)."""
        for watch in [*self._everything, *(w for ws in self._by_order.values() for w in ws)]:
            watch.ended = True
            watch.poke()

    async def _read_changed(self) -> None:
        """Read what changed, a batch at a time, until nothing waits; offer each state to the
        streams of its order and to every board."""
        while self._dirty:
            batch = list(self._dirty)[:READ_BATCH]
            for order_id in batch:
                del self._dirty[order_id]
            try:
                snapshots = await self._read(batch)
            except Exception as exc:  # noqa: BLE001 - the database may be away: try again
                STREAM_READ_FAILURES.inc()
                log.warning("order_stream_read_failed", error=type(exc).__name__)
                self._dirty = (
                    dict.fromkeys([o for o in batch if self._everything or o in self._by_order])
                    | self._dirty
                )
                await asyncio.sleep(RETRY_AFTER_FAILED_READ)
                continue
            STREAM_READS.inc(len(snapshots))
            for snapshot in snapshots:
                for watch in self._by_order.get(snapshot.order_id, ()):
                    watch.offer(snapshot)
                for watch in self._everything:
                    watch.offer(snapshot)

    # -- from any thread ---------------------------------------------------------------------

    def changed_threadsafe(self, order_ids: Iterable[str]) -> None:
        """:meth:`changed`, from the listener's thread; nothing before the first stream opened."""
        self._call_soon(self.changed, list(order_ids))

    def resync_threadsafe(self) -> None:
        """:meth:`resync`, from the listener's thread."""
        self._call_soon(self.resync)

    def end_all_threadsafe(self) -> None:
        """:meth:`end_all`, from any thread."""
        self._call_soon(self.end_all)

    def _call_soon(self, callback: Callable[..., None], *args: object) -> None:
        loop = self._loop
        if loop is None:
            return  # no stream was ever opened: nobody to tell
        with contextlib.suppress(RuntimeError):  # the loop closed: the process is stopping
            loop.call_soon_threadsafe(callback, *args)


def _kind(watch: Watch) -> str:
    return "all" if watch.order_id is None else "order"
