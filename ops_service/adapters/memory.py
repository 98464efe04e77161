"""In-memory fakes of the replay records and the unit of work: the use cases' unit tests run on
them, and the repository contract tests hold them to the SQL implementation's behaviour
(tests/ops_service/integration/test_repository_contract.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ops_service.application.ports import Replay
from ops_service.domain.model import Position
from servicekit.messaging.unit_of_work import Cause, InMemoryUnitOfWork


@dataclass
class ReplayStore:
    """What the fakes keep between units of work, as a database would."""

    replays: dict[str, Replay] = field(default_factory=dict)
    letters: dict[Position, str] = field(default_factory=dict)  # -> replay_id


class InMemoryReplayLog:
    """Replays in dicts; what a unit of work adds reaches the store when it commits."""

    def __init__(self, store: ReplayStore) -> None:
        self._store = store
        self.pending: list[tuple[Replay, list[Position]]] = []

    def replayed(self, topics: Sequence[str]) -> dict[Position, datetime]:
        """See ReplayLog.replayed."""
        wanted = set(topics)
        return {
            position: self._store.replays[replay_id].replayed_at
            for position, replay_id in self._store.letters.items()
            if position[0] in wanted
        }

    def add(self, replay: Replay, letters: Sequence[Position]) -> None:
        """See ReplayLog.add."""
        settled = {*self._store.letters, *(p for _, ps in self.pending for p in ps)}
        if replay.replay_id in self._store.replays or settled & set(letters):
            raise ValueError("a replay or a dead letter recorded twice")  # the keys' rule
        self.pending.append((replay, list(letters)))


class InMemoryOpsUnitOfWork(InMemoryUnitOfWork):
    """ops_service's unit of work on a ReplayStore: changes reach it only on commit."""

    def __init__(self, store: ReplayStore | None = None, cause: Cause | None = None) -> None:
        super().__init__(cause)
        self.store = store or ReplayStore()
        self.replays = InMemoryReplayLog(self.store)

    def _commit(self) -> None:
        super()._commit()
        for replay, letters in self.replays.pending:
            self.store.replays[replay.replay_id] = replay
            self.store.letters.update(dict.fromkeys(letters, replay.replay_id))
        self.rollback()

    def rollback(self) -> None:
        """Forget what was not committed."""
        super().rollback()
        self.replays.pending.clear()
