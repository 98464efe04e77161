"""The replay records in PostgreSQL, and ops_service's unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from ops_service.adapters.tables import dlq_replayed_letters, dlq_replays
from ops_service.application.ports import Replay
from ops_service.domain.model import Position
from servicekit.messaging.unit_of_work import Cause, SqlUnitOfWork


class SqlReplayLog:
    """The ReplayLog port on the dlq_replays and dlq_replayed_letters tables."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def replayed(self, topics: Sequence[str]) -> dict[Position, datetime]:
        """See ReplayLog.replayed."""
        if not topics:
            return {}
        rows = self._session.execute(
            select(
                dlq_replayed_letters.c.topic,
                dlq_replayed_letters.c.kafka_partition,
                dlq_replayed_letters.c.kafka_offset,
                dlq_replays.c.replayed_at,
            )
            .join(dlq_replays, dlq_replays.c.replay_id == dlq_replayed_letters.c.replay_id)
            .where(dlq_replayed_letters.c.topic.in_(sorted(set(topics))))
        )
        return {(topic, partition, offset): at for topic, partition, offset, at in rows}

    def add(self, replay: Replay, letters: Sequence[Position]) -> None:
        """See ReplayLog.add."""
        self._session.execute(
            insert(dlq_replays).values(
                replay_id=replay.replay_id,
                replayed_by=replay.replayed_by,
                replayed_at=replay.replayed_at,
                topic=replay.topic,
                event_ids=replay.event_ids,
                message_count=replay.count,
            )
        )
        if letters:
            self._session.execute(
                insert(dlq_replayed_letters),
                [
                    {
                        "topic": topic,
                        "kafka_partition": partition,
                        "kafka_offset": offset,
                        "replay_id": replay.replay_id,
                    }
                    for topic, partition, offset in letters
                ],
            )


class SqlOpsUnitOfWork(SqlUnitOfWork):
    """ops_service's unit of work on PostgreSQL."""

    def __init__(
        self, session: Session, *, owns_transaction: bool = True, cause: Cause | None = None
    ) -> None:
        super().__init__(session, owns_transaction=owns_transaction, cause=cause)
        self.replays = SqlReplayLog(session)
