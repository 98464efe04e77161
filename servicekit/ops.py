"""What operators ask every service about its own database, served by every service app and
never routed by the gateway: ``GET /ops/inbox``, the inbox rows of some events.

Each service owns its database, so nobody else reads its inbox table: ops_service asks each
service instance (found in Eureka, on its own address) for the events of one order's trace and
merges the answers. An admin token is required, checked with the service's own TokenVerifier.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel

from servicekit.api import errors
from servicekit.db import sql
from servicekit.dependencies import AdminUser, RuntimeDep, SessionDep

# Event ids one request may ask about: the query string stays well under any server's limit
# (about 40 bytes each), and callers with more ask in several requests.
MAX_INBOX_EVENT_IDS = 200

# By (consumer, event_id), the inbox's primary key: the consumers are this service's own, so
# the lookup is an index scan however large the inbox grows.
_INBOX_ENTRIES_SQL = """
SELECT consumer, event_id::text, event_type, topic, kafka_partition, kafka_offset, processed_at
FROM inbox
WHERE consumer = ANY(%(consumers)s::text[]) AND event_id = ANY(%(event_ids)s::uuid[])
ORDER BY processed_at, consumer
"""


class InboxEntry(BaseModel):
    """One event one consumer applied: which message it came from and when."""

    consumer: str
    event_id: str
    event_type: str
    topic: str
    partition: int
    offset: int
    processed_at: datetime


class InboxEntries(BaseModel):
    """The inbox rows of the asked events in this service's database, oldest first."""

    service: str
    entries: list[InboxEntry]


EventIds = Annotated[
    list[UUID],
    Query(
        alias="event_id",
        min_length=1,
        max_length=MAX_INBOX_EVENT_IDS,
        description=f"an event id; repeat the parameter for more (at most {MAX_INBOX_EVENT_IDS})",
    ),
]


def inbox_router() -> APIRouter:
    """GET /ops/inbox?event_id=...&event_id=...: admin only."""
    router = APIRouter(tags=["operations"])

    @router.get("/ops/inbox", responses=errors(403))
    def inbox_entries(
        _: AdminUser, runtime: RuntimeDep, session: SessionDep, event_ids: EventIds
    ) -> InboxEntries:
        """The inbox rows of these events written by this service's consumers."""
        consumers = sorted({consumer.name for consumer in runtime.consumers})
        rows = (
            sql(
                session,
                _INBOX_ENTRIES_SQL,
                {"consumers": consumers, "event_ids": sorted({str(e) for e in event_ids})},
            ).all()
            if consumers
            else []
        )
        return InboxEntries(
            service=runtime.name,
            entries=[
                InboxEntry(
                    consumer=consumer,
                    event_id=event_id,
                    event_type=event_type,
                    topic=topic,
                    partition=partition,
                    offset=offset,
                    processed_at=processed_at,
                )
                for consumer, event_id, event_type, topic, partition, offset, processed_at in rows
            ],
        )

    return router
