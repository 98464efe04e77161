"""The live status streams' bookkeeping (application/live.py) with a fake reader: one read per
change shared by every stream of the order, nothing read for orders nobody watches, changes
that pile up during a read folded into one more read, never an older state after a newer one,
boards that see every order, the limit on open streams, and a failed read tried again."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

import pytest
from prometheus_client import REGISTRY

from order_service.application import live
from order_service.application.live import OrderStreams, Snapshot, StreamsFull, Watch


class FakeReader:
    """Answers each order with its current version; ``gate`` holds reads until released."""

    def __init__(self) -> None:
        self.versions: dict[str, int] = {}
        self.reads: list[list[str]] = []
        self.gate: asyncio.Event | None = None
        self.failures = 0

    def bump(self, order_id: str, final: bool = False) -> None:
        self.versions[order_id] = self.versions.get(order_id, 0) + 1
        if final:
            self.versions[order_id] = -self.versions[order_id]

    async def __call__(self, order_ids: list[str]) -> list[Snapshot]:
        self.reads.append(sorted(order_ids))
        if self.gate is not None:
            await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database away")
        return [
            Snapshot(o, abs(v), v < 0, b'{"v": %d}' % abs(v))
            for o in order_ids
            if (v := self.versions.get(o)) is not None
        ]


def run(test: Callable[[OrderStreams, FakeReader], Awaitable[None]], max_streams: int = 10) -> None:
    reader = FakeReader()
    asyncio.run(test(OrderStreams(reader, max_streams=max_streams, heartbeat_seconds=5), reader))


async def settle() -> None:
    """Let the reader task run until nothing is left to read."""
    for _ in range(20):
        await asyncio.sleep(0)


async def taken(watch: Watch) -> list[int]:
    got = await watch.next(timeout=0.01)
    return [s.version for s in got or []]


def test_one_read_per_change_is_shared_by_every_stream_of_the_order() -> None:
    async def test(streams: OrderStreams, reader: FakeReader) -> None:
        watches = [streams.open("a") for _ in range(50)]
        other = streams.open("b")
        reader.bump("a")
        streams.changed(["a", "z"])  # z: nobody watches it
        await settle()
        assert reader.reads == [["a"]]
        for watch in watches:
            assert await taken(watch) == [1]
        assert await taken(other) == []

    run(test, max_streams=100)


def test_orders_nobody_watches_are_never_read() -> None:
    async def test(streams: OrderStreams, reader: FakeReader) -> None:
        streams.close(streams.open("a"))
        streams.changed(["a", "b"])
        await settle()
        assert reader.reads == []
        assert streams.watched() == []

    run(test)


def test_changes_during_a_read_are_folded_into_one_more_read() -> None:
    async def test(streams: OrderStreams, reader: FakeReader) -> None:
        watch = streams.open("a")
        reader.gate = asyncio.Event()
        reader.bump("a")
        streams.changed(["a"])
        await settle()
        for _ in range(5):  # five more commits while the first read is in flight
            reader.bump("a")
            streams.changed(["a"])
        reader.gate.set()
        await settle()
        assert reader.reads == [["a"], ["a"]]
        assert await taken(watch) == [6]  # the newest state only

    run(test)


def test_a_stream_never_gets_an_older_state_than_one_waiting() -> None:
    watch = Watch("a")
    watch.offer(Snapshot("a", 3, False, b""))
    watch.offer(Snapshot("a", 2, False, b""))
    assert [s.version for s in watch._pending.values()] == [3]


def test_a_board_sees_every_order_and_is_told_to_reload_after_a_resync() -> None:
    async def test(streams: OrderStreams, reader: FakeReader) -> None:
        board = streams.open(None)
        watch = streams.open("a")
        for order_id in ("a", "b", "c"):
            reader.bump(order_id)
        streams.changed(["a", "b", "c"])
        await settle()
        assert reader.reads == [["a", "b", "c"]]  # one statement for the batch
        got = await board.next(timeout=0.01)
        assert [s.order_id for s in got or []] == ["a", "b", "c"]
        streams.resync()
        await settle()
        assert board.resync
        assert reader.reads[-1] == ["a"]  # every watched order once
        assert await taken(watch) == [1]  # the same state read again is not queued twice
        assert not watch.resync

    run(test)


def test_the_limit_on_open_streams_and_closing_frees_a_slot() -> None:
    async def test(streams: OrderStreams, reader: FakeReader) -> None:
        first = streams.open("a")
        streams.open(None)
        refused = REGISTRY.get_sample_value("order_streams_refused_total") or 0
        with pytest.raises(StreamsFull):
            streams.open("b")
        assert REGISTRY.get_sample_value("order_streams_refused_total") == refused + 1
        streams.close(first)
        streams.close(first)  # twice: still one slot freed
        assert streams.open_count == 1
        streams.open("b")
        assert streams.open_count == 2

    run(test, max_streams=2)


def test_a_failed_read_is_tried_again() -> None:
    async def test(streams: OrderStreams, reader: FakeReader) -> None:
        watch = streams.open("a")
        reader.failures = 1
        reader.bump("a")
        streams.changed(["a"])
        got = await watch.next(timeout=5)
        assert [s.version for s in got or []] == [1]
        assert reader.reads == [["a"], ["a"]]

    original = live.RETRY_AFTER_FAILED_READ
    live.RETRY_AFTER_FAILED_READ = 0.01
    try:
        run(test)
    finally:
        live.RETRY_AFTER_FAILED_READ = original


def test_a_quiet_stream_times_out_and_an_ended_one_wakes() -> None:
    async def test(streams: OrderStreams, reader: FakeReader) -> None:
        watch = streams.open("a")
        assert await watch.next(timeout=0.01) is None  # the caller sends a keep-alive
        streams.end_all()
        assert await watch.next(timeout=5) == []
        assert watch.ended

    run(test)


def test_the_listener_thread_hands_changes_to_the_loop() -> None:
    async def test(streams: OrderStreams, reader: FakeReader) -> None:
        streams.changed_threadsafe(["a"])  # before any stream: dropped, no loop known yet
        watch = streams.open("a")
        reader.bump("a")
        thread = threading.Thread(target=streams.changed_threadsafe, args=(["a"],))
        thread.start()
        thread.join()
        got = await watch.next(timeout=5)
        assert [s.version for s in got or []] == [1]

    run(test)


def test_a_board_that_falls_too_far_behind_is_ended() -> None:
    board = Watch(None)
    for index in range(live.BOARD_BACKLOG + 1):
        board.offer(Snapshot(str(index), 1, False, b""))
    assert board.ended and board._pending == {}
