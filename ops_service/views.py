"""Reads for the API apart from the use cases: the replay records, newest first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ops_service.adapters.tables import dlq_replays


def list_replays(session: Session, *, limit: int) -> list[dict[str, Any]]:
    """The newest replays."""
    rows = session.execute(
        select(dlq_replays).order_by(dlq_replays.c.replayed_at.desc()).limit(limit)
    ).mappings()
    return [
        {
            "replay_id": str(row["replay_id"]),
            "replayed_by": row["replayed_by"],
            "replayed_at": row["replayed_at"],
            "topic": row["topic"],
            "event_ids": list(row["event_ids"]),
            "count": row["message_count"],
        }
        for row in rows
    ]
