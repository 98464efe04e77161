"""Dead letters: putting them back on their original topic, recorded."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from ops_service.application.ports import MessageLog, OpsUnitOfWork, Replay
from ops_service.domain.model import choose_replay

# The advisory lock one replay of a topic holds until it is recorded (UnitOfWork.lock).
REPLAY_LOCK = "dlq_replay"


@dataclass(frozen=True, slots=True)
class ReplayDeadLetters:
    """Put a topic's waiting dead letters back: those of these events, or all of them."""

    topic: str
    event_ids: list[str] | None
    replayed_by: str


def replay_dead_letters(
    command: ReplayDeadLetters, uow: OpsUnitOfWork, messages: MessageLog
) -> Replay | None:
    """Put the chosen dead letters back and record it; None when none was waiting.

    Replays of one topic take turns (a lock held until the record commits), so two operators
    replaying at once cannot both put the same letter back. If Kafka does not acknowledge every
    message, nothing is recorded and the letters stay waiting: some may be back on their topic
    already, which a second replay repeats harmlessly (the inboxes skip what they applied).
    """
    uow.lock(REPLAY_LOCK, command.topic)
    batch = choose_replay(
        messages.dead_letters([command.topic]),
        set(uow.replays.replayed([command.topic])),
        topic=command.topic,
        event_ids=command.event_ids,
    )
    if not batch.messages:
        return None
    messages.put_back(batch.messages)
    replay = Replay(
        replay_id=str(uuid.uuid4()),
        replayed_by=command.replayed_by,
        replayed_at=datetime.now(UTC),
        topic=command.topic,
        event_ids=batch.event_ids,
        count=len(batch.messages),
    )
    uow.replays.add(replay, [letter.record.position for letter in batch.letters])
    return replay
