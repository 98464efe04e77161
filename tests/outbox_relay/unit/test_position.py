"""The relay's publishing rule (Position.after_read, docs/relay.md) against a model of
PostgreSQL's transactions: writers take transaction ids in order, insert rows with ids in
insertion order, and commit or roll back in any order; each read sees one snapshot and returns
the first rows visible in it that are past the cursor or belong to a watched transaction. Over
many random histories: no committed row is ever left unread, and a read that was not cut short
by its limit never makes a later read return a row again."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

import pytest

from outbox_relay.relay import Position


@dataclass
class Database:
    next_txid: int = 100
    next_id: int = 1
    running: dict[int, list[int]] = field(default_factory=dict)  # txid -> its row ids
    committed: dict[int, int] = field(default_factory=dict)  # row id -> txid

    def begin(self) -> int:
        """A transaction that has written (so holds a transaction id): ids are handed out in
        increasing order at the first write."""
        txid = self.next_txid
        self.next_txid += 1
        self.running[txid] = []
        self.insert(txid)
        return txid

    def insert(self, txid: int) -> None:
        self.running[txid].append(self.next_id)
        self.next_id += 1

    def end(self, txid: int, *, commit: bool) -> None:
        for row_id in self.running.pop(txid):
            if commit:
                self.committed[row_id] = txid

    def read(self, position: Position, limit: int) -> tuple[list[tuple[int, str]], str]:
        """What FETCH_SQL returns: the snapshot, and the first ``limit`` visible rows in
        (txid, id) order past the cursor or of a watched transaction."""
        cursor = (position.txid, position.last_id)
        matching = sorted(
            (txid, row_id)
            for row_id, txid in self.committed.items()
            if (txid, row_id) > cursor or txid in position.in_progress
        )[:limit]
        running = ",".join(str(t) for t in sorted(self.running))
        snapshot = f"{min(self.running, default=self.next_txid)}:{self.next_txid}:{running}"
        return [(row_id, str(txid)) for txid, row_id in matching], snapshot


def relay_read(db: Database, position: Position, limit: int, seen: Counter[int]) -> Position:
    rows, snapshot = db.read(position, limit)
    seen.update(row_id for row_id, _ in rows)
    return position.after_read(rows, snapshot, cut=len(rows) >= limit)


def history(seed: int, limit: int) -> tuple[Database, Counter[int]]:
    """A random history of writers and reads, then every writer ends and the relay reads on
    until nothing is left."""
    rng = random.Random(seed)
    db = Database()
    position = Position(0, 0)
    seen: Counter[int] = Counter()
    for _ in range(600):
        action = rng.random()
        if action < 0.25 or not db.running:
            db.begin()
        elif action < 0.45:
            db.insert(rng.choice(list(db.running)))
        elif action < 0.7:
            db.end(rng.choice(list(db.running)), commit=rng.random() < 0.9)
        else:
            position = relay_read(db, position, limit, seen)
    for txid in list(db.running):
        db.end(txid, commit=True)
    for _ in range(10_000):
        before = position
        position = relay_read(db, position, limit, seen)
        if position == before and not db.read(position, limit)[0]:
            break
    return db, seen


@pytest.mark.parametrize("seed", range(40))
def test_nothing_is_lost_however_commits_interleave(seed: int) -> None:
    for limit in (1, 2, 3, 1000):
        db, seen = history(seed, limit)
        missing = set(db.committed) - set(seen)
        assert not missing, f"limit {limit}: rows never read: {sorted(missing)}"


@pytest.mark.parametrize("seed", range(40))
def test_reads_not_cut_short_return_each_row_once(seed: int) -> None:
    db, seen = history(seed, 1000)
    assert set(seen) == set(db.committed)
    again = {row_id: n for row_id, n in seen.items() if n > 1}
    assert not again, f"rows read more than once: {again}"


def test_a_late_commit_read_alone_leaves_the_cursor_where_it_was() -> None:
    """Transaction 955 took its id before 956 but wrote its row after it; 956's row was read
    while 955 ran. The next read returns 955's row only: the cursor stays on 956's row, or the
    read after it would return 956's row again."""
    position = Position(956, 515, (955,))
    after = position.after_read([(516, "955")], "957:958:", cut=False)
    assert after == Position(956, 515, ())


def test_a_cut_read_moves_the_cursor_to_its_last_row() -> None:
    """Rows of watched transactions that a cut read did not return lie past its last row."""
    position = Position(960, 530, (950, 955))
    after = position.after_read([(516, "950")], "957:961:", cut=True)
    assert after == Position(950, 516, ())
