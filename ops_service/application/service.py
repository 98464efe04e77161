"""The entry point of the operators' use cases for the API: an order's trace, the dead letters,
and their replay, each with what it needs wired in once (main.py)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from ops_service.application import metrics
from ops_service.application.dlq import ReplayDeadLetters, replay_dead_letters
from ops_service.application.ports import Inboxes, MessageLog, OpsUnitOfWork, Orders, Replay
from ops_service.application.trace import OrderTrace, trace_order
from ops_service.domain.errors import UnknownDeadLetterTopic
from ops_service.domain.model import DeadLetter
from servicekit.logging import get_logger

log = get_logger(__name__)

# A unit of work that owns its transaction: commits when the block ends normally.
UnitOfWorkFactory = Callable[[], AbstractContextManager[OpsUnitOfWork]]


@dataclass(frozen=True, slots=True)
class DeadLetterStatus:
    """A dead letter, and when a replay put it back (None while it waits)."""

    letter: DeadLetter
    replayed_at: datetime | None


class OpsService:
    """Runs the operators' use cases."""

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        *,
        orders: Orders,
        messages: MessageLog,
        inboxes: Inboxes,
        trace_start_margin: timedelta,
    ) -> None:
        self.unit_of_work = unit_of_work
        self.orders = orders
        self.messages = messages
        self.inboxes = inboxes
        self.trace_start_margin = trace_start_margin

    async def trace(self, order_id: str, *, token: str) -> OrderTrace:
        """One order's trace, read with the caller's token (OrderNotFound if unknown)."""
        return await trace_order(
            order_id,
            token=token,
            orders=self.orders,
            messages=self.messages,
            inboxes=self.inboxes,
            start_margin=self.trace_start_margin,
        )

    def dead_letters(self) -> list[DeadLetterStatus]:
        """The newest dead letters of every dead-letter topic, by position, each with when it
        was replayed."""
        topics = self.messages.dead_letter_topics()
        letters = self.messages.dead_letters(topics)
        with self.unit_of_work() as uow:
            replayed = uow.replays.replayed(topics)
        return [DeadLetterStatus(d, replayed.get(d.record.position)) for d in letters]

    def replay(self, *, topic: str, event_ids: list[str] | None, replayed_by: str) -> Replay | None:
        """Put a topic's waiting dead letters back (those of ``event_ids``, or all); None when
        none was waiting. UnknownDeadLetterTopic, NoPendingDeadLetters, DependencyUnavailable."""
        if topic not in self.messages.dead_letter_topics():
            raise UnknownDeadLetterTopic(topic)
        command = ReplayDeadLetters(topic=topic, event_ids=event_ids, replayed_by=replayed_by)
        with self.unit_of_work() as uow:
            replay = replay_dead_letters(command, uow, self.messages)
        if replay is not None:
            metrics.replayed(topic, replay.count)
            log.info(
                "dead_letters_replayed", replay_id=replay.replay_id, topic=topic, count=replay.count
            )
        return replay
