"""A minimal service consumer for tests that must kill or signal a real process.

Applies ``test.recorded`` events by inserting into ``effects``; configured by TEST_* variables.
"""

from __future__ import annotations

import os
import signal
import threading

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from servicekit.logging import configure_logging
from servicekit.messaging.envelope import Envelope
from servicekit.messaging.inbox import InboxConsumer
from servicekit.settings import KafkaSettings

EFFECTS_DDL = "CREATE TABLE IF NOT EXISTS effects (event_id uuid, note text)"


def record(session: Session, envelope: Envelope) -> None:
    """The handler's effect: one row per applied event."""
    session.execute(
        text("INSERT INTO effects (event_id, note) VALUES (:e, :n)"),
        {"e": envelope.event_id, "n": envelope.payload.get("note", "")},
    )


def main() -> None:
    configure_logging("test_consumer")
    engine = create_engine(os.environ["TEST_DB_URL"])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    consumer = InboxConsumer(
        name=os.environ["TEST_GROUP"],
        topics=[os.environ["TEST_TOPIC"]],
        handlers={"test.recorded": record},
        session_factory=sessionmaker(engine),
        kafka=KafkaSettings(),
    )
    consumer.run(stop)


if __name__ == "__main__":
    main()
