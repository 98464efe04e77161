"""The live status streams' bookkeeping (application/live.py) with a fake reader: one read per
change shared by every stream of the order, nothing read for orders nobody watches, boards that
see every order and reload after a resync, never an older state after a newer one, the limit on
open streams, and a failed read tried again."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

import pytest
from prometheus_client import REGISTRY

from order_service.application import live
from order_service.application.live import ChangeFeed, OrderStreams, Snapshot, StreamsFull, Watch


class FakeReader:
    """Answers each order with its current version (negative: final)."""

    def __init__(self) -> None:
        self.versions: dict[str, int] = {}
        self.reads: list[list[str]] = []
        self.failures = 0

    def bump(self, order_id: str) -> None:
        self.versions[order_id] = self.versions.get(order_id, 0) + 1

    def __call__(self, order_ids: list[str]) -> list[Snapshot]:
        self.reads.append(sorted(order_ids))
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database away")
        return [
            Snapshot(o, v, False, b'{"v": %d}' % v)
            for o in order_ids
            if (v := self.versions.get(o)) is not None
        ]


Test = Callable[[OrderStreams, ChangeFeed, FakeReader], Awaitable[None]]


def run(test: Test, max_streams: int = 10) -> None:
    async def main() -> None:
        streams = OrderStreams(max_streams=max_streams, heartbeat_seconds=5)
        reader = FakeReader()
        await test(streams, ChangeFeed(streams, reader), reader)

    asyncio.run(main())


async def from_listener(call: Callable[[], None]) -> None:
    """Run ``call`` in a thread of its own, as the listener does, and let the loop take what
    it handed over."""
    thread = threading.Thread(target=call)
    thread.start()
    thread.join()
    for _ in range(5):
        await asyncio.sleep(0)


async def taken(watch: Watch) -> list[int]:
    got = await watch.next(timeout=0.01)
    return [s.version for s in got or []]


def test_one_read_per_change_is_shared_by_every_stream_of_the_order() -> None:
    async def test(streams: OrderStreams, feed: ChangeFeed, reader: FakeReader) -> None:
        watches = [streams.open("a") for _ in range(50)]
        other = streams.open("b")
        reader.bump("a")
        await from_listener(lambda: feed.changed({"a", "z"}))  # z: nobody watches it
        assert reader.reads == [["a"]]
        for watch in watches:
            assert await taken(watch) == [1]
        assert await taken(other) == []

    run(test, max_streams=100)


def test_orders_nobody_watches_are_never_read() -> None:
    async def test(streams: OrderStreams, feed: ChangeFeed, reader: FakeReader) -> None:
        streams.close(streams.open("a"))
        await from_listener(lambda: feed.changed({"a", "b"}))
        assert reader.reads == []
        assert streams.watched() == frozenset()

    run(test)


def test_a_stream_never_gets_an_older_state_than_one_waiting() -> None:
    watch = Watch("a")
    watch.offer(Snapshot("a", 3, False, b""))
    watch.offer(Snapshot("a", 2, False, b""))
    watch.offer(Snapshot("a", 3, False, b""))
    assert [s.version for s in watch._pending.values()] == [3]


def test_a_board_sees_every_order_and_reloads_after_a_resync() -> None:
    async def test(streams: OrderStreams, feed: ChangeFeed, reader: FakeReader) -> None:
        board = streams.open(None)
        watch = streams.open("a")
        for order_id in ("a", "b", "c"):
            reader.bump(order_id)
        await from_listener(lambda: feed.changed({"a", "b", "c"}))
        assert reader.reads == [["a", "b", "c"]]  # one statement for the batch
        got = await board.next(timeout=0.01)
        assert sorted(s.order_id for s in got or []) == ["a", "b", "c"]
        assert await taken(watch) == [1]
        reader.bump("a")
        await from_listener(feed.resync)
        assert board.resync
        assert reader.reads[-1] == ["a"]  # every watched order once
        assert await taken(watch) == [2]
        assert not watch.resync

    run(test)


def test_reads_go_in_batches() -> None:
    async def test(streams: OrderStreams, feed: ChangeFeed, reader: FakeReader) -> None:
        streams.open(None)
        ids = [f"o{i:03}" for i in range(live.READ_BATCH + 1)]
        await from_listener(lambda: feed.changed(ids))
        assert [len(batch) for batch in reader.reads] == [live.READ_BATCH, 1]

    run(test)


def test_the_limit_on_open_streams_and_closing_frees_a_slot() -> None:
    async def test(streams: OrderStreams, feed: ChangeFeed, reader: FakeReader) -> None:
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
        assert streams.watched() == frozenset({"b"})

    run(test, max_streams=2)


def test_a_failed_read_is_tried_again_on_the_next_tick() -> None:
    async def test(streams: OrderStreams, feed: ChangeFeed, reader: FakeReader) -> None:
        watch = streams.open("a")
        reader.failures = 1
        reader.bump("a")
        failures = REGISTRY.get_sample_value("order_stream_read_failures_total") or 0
        await from_listener(lambda: feed.changed({"a"}))
        assert await taken(watch) == []
        assert REGISTRY.get_sample_value("order_stream_read_failures_total") == failures + 1
        await from_listener(feed.tick)
        assert await taken(watch) == [1]
        assert reader.reads == [["a"], ["a"]]
        await from_listener(feed.tick)  # nothing failed: nothing read
        assert len(reader.reads) == 2

    run(test)


def test_a_quiet_stream_times_out_and_ending_every_stream_wakes_them() -> None:
    async def test(streams: OrderStreams, feed: ChangeFeed, reader: FakeReader) -> None:
        watch = streams.open("a")
        assert await watch.next(timeout=0.01) is None  # the caller sends a keep-alive
        await from_listener(streams.end_all_threadsafe)
        assert await watch.next(timeout=5) == []
        assert watch.ended
        with pytest.raises(StreamsFull, match="shutting down"):  # and no new stream opens
            streams.open("b")

    run(test)


def test_nothing_is_handed_over_before_the_first_stream_opened() -> None:
    streams = OrderStreams(max_streams=1, heartbeat_seconds=5)
    streams.deliver_threadsafe([Snapshot("a", 1, False, b"")])  # no loop known yet: dropped
    reader = FakeReader()
    ChangeFeed(streams, reader).changed({"a"})
    assert reader.reads == []


def test_a_board_that_falls_too_far_behind_is_ended() -> None:
    board = Watch(None)
    for index in range(live.BOARD_BACKLOG + 1):
        board.offer(Snapshot(str(index), 1, False, b""))
    assert board.ended and board._pending == {}
