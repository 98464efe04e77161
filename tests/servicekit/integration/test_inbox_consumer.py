"""The inbox consumer against the real PostgreSQL and Kafka: exactly-once effects under
redelivery, poison messages, retries, a crash between the two commits, and SIGTERM."""

from __future__ import annotations

import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from prometheus_client import REGISTRY
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from devstack import layout
from servicekit.messaging import lock_aggregate
from servicekit.messaging.envelope import Envelope
from servicekit.messaging.inbox import InboxConsumer, RetryPolicy, no_locks
from servicekit.messaging.kafka import ensure_topics
from servicekit.messaging.subscriptions import Subscriptions
from servicekit.settings import KafkaSettings
from tests.servicekit.integration.consumer_app import EFFECTS_DDL, record
from tests.support import (
    ManagedProcess,
    TopicReader,
    committed_offsets,
    headers_of,
    sqlalchemy_url,
    wait_for,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(scratch_db: str) -> Iterator[Engine]:
    engine = create_engine(sqlalchemy_url(scratch_db))
    with engine.begin() as conn:
        conn.execute(text(EFFECTS_DDL))
    yield engine
    engine.dispose()


@pytest.fixture
def topic(aggregate_type: str) -> str:
    name = f"{aggregate_type}.events"
    ensure_topics(KafkaSettings(), [name, f"{name}.dlq"])
    return name


def envelope(event_type: str = "test.recorded", note: str = "", key: str = "k1") -> Envelope:
    return Envelope(
        event_type=event_type,
        aggregate_type="test",
        aggregate_id=key,
        payload={"note": note},
        correlation_id="corr-test",
    )


def publish(topic: str, *values: bytes, key: str = "k1") -> None:
    producer = Producer({"bootstrap.servers": layout.KAFKA_BOOTSTRAP, "enable.idempotence": True})
    for value in values:
        producer.produce(topic, key=key, value=value, headers=[("origin", b"test")])
    assert producer.flush(30) == 0


def effects(engine: Engine, event_id: uuid.UUID | None = None) -> int:
    with engine.connect() as conn:
        if event_id is None:
            return int(conn.execute(text("SELECT count(*) FROM effects")).scalar_one())
        return int(
            conn.execute(
                text("SELECT count(*) FROM effects WHERE event_id = :e"), {"e": event_id}
            ).scalar_one()
        )


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class RunningConsumer:
    def __init__(self, consumer: InboxConsumer) -> None:
        self.consumer = consumer
        self.stop = threading.Event()
        self.thread = threading.Thread(target=consumer.run, args=(self.stop,))

    def __enter__(self) -> InboxConsumer:
        self.thread.start()
        return self.consumer

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive(), "consumer did not stop"


def consumer_for(engine: Engine, topic: str, handlers: dict, **kwargs) -> InboxConsumer:
    return InboxConsumer(
        name=f"test-{uuid.uuid4().hex[:8]}",
        topics=[topic],
        handlers=handlers,
        session_factory=sessionmaker(engine),
        kafka=KafkaSettings(),
        **kwargs,
    )


def test_redelivered_event_is_applied_once(engine: Engine, topic: str) -> None:
    first, marker = envelope(note="first"), envelope(note="marker")
    # The same event three times (a producer retry, a relay replay, a rebalance), then a marker.
    publish(topic, first.to_json(), first.to_json(), first.to_json(), marker.to_json())
    consumer = consumer_for(engine, topic, {"test.recorded": record})
    with RunningConsumer(consumer):
        wait_for(lambda: effects(engine, marker.event_id) == 1, what="marker applied")
    assert effects(engine, first.event_id) == 1
    assert (
        metric("inbox_duplicates_skipped_total", consumer=consumer.name, event_type="test.recorded")
        == 2
    )
    assert (
        metric("inbox_events_processed_total", consumer=consumer.name, event_type="test.recorded")
        == 2
    )


def test_poison_messages_go_to_the_dlq_and_the_partition_keeps_flowing(
    engine: Engine, topic: str
) -> None:
    attempts = {"n": 0}

    def always_fails(session: Session, env: Envelope) -> None:
        attempts["n"] += 1
        raise ValueError("cannot apply this one")

    good1, bad, good2 = envelope(note="g1"), envelope("test.broken"), envelope(note="g2")
    publish(topic, good1.to_json(), b"{not json", bad.to_json(), good2.to_json())
    consumer = consumer_for(
        engine,
        topic,
        {"test.recorded": record, "test.broken": always_fails},
        retry=RetryPolicy(max_attempts=3, initial_backoff=0.01),
    )
    dlq = TopicReader(f"{topic}.dlq")
    try:
        with RunningConsumer(consumer):
            wait_for(lambda: effects(engine, good2.event_id) == 1, what="message after poison")
        dead = dlq.read_until(lambda ms: len(ms) >= 2)
    finally:
        dlq.close()
    assert effects(engine, good1.event_id) == 1
    assert effects(engine) == 2
    assert attempts["n"] == 3
    assert [m.value() for m in dead] == [b"{not json", bad.to_json()]
    not_json, broken = (headers_of(m) for m in dead)
    assert not_json["dlq.error_type"] == "EnvelopeError"
    assert "not JSON" in not_json["dlq.error"]
    assert broken["dlq.error_type"] == "ValueError"
    assert "cannot apply this one" in broken["dlq.error"]
    assert broken["dlq.attempts"] == "3"
    assert broken["dlq.original_topic"] == topic
    assert broken["origin"] == "test", "original headers are kept"
    assert metric("inbox_dead_letters_total", consumer=consumer.name, topic=topic) == 2


def test_transient_failures_are_retried_then_applied_once(engine: Engine, topic: str) -> None:
    calls = {"n": 0}

    def flaky(session: Session, env: Envelope) -> None:
        calls["n"] += 1
        record(session, env)  # the effect is rolled back with the failure below
        if calls["n"] < 3:
            raise ConnectionError("downstream hiccup")

    event = envelope()
    publish(topic, event.to_json())
    consumer = consumer_for(
        engine,
        topic,
        {"test.recorded": flaky},
        retry=RetryPolicy(max_attempts=5, initial_backoff=0.01),
    )
    with RunningConsumer(consumer):
        wait_for(lambda: effects(engine, event.event_id) == 1, what="applied after retries")
    assert calls["n"] == 3
    assert effects(engine) == 1
    assert metric("inbox_retries_total", consumer=consumer.name, event_type="test.recorded") == 2


def consumer_process(
    scratch_db: str, topic: str, group: str, log: Path, failpoints: str = ""
) -> ManagedProcess:
    env = {
        "TEST_DB_URL": sqlalchemy_url(scratch_db),
        "TEST_TOPIC": topic,
        "TEST_GROUP": group,
        "KAFKA_BOOTSTRAP_SERVERS": layout.KAFKA_BOOTSTRAP,
        "SERVICEKIT_FAILPOINTS": failpoints,
    }
    return ManagedProcess(
        [sys.executable, "-m", "tests.servicekit.integration.consumer_app"], env, log
    )


def test_kill_9_between_db_commit_and_offset_commit_applies_once(
    engine: Engine, scratch_db: str, topic: str, artifacts: Path
) -> None:
    group = f"test-{uuid.uuid4().hex[:8]}"
    event = envelope(note="crash")
    publish(topic, event.to_json())
    crashing = consumer_process(
        scratch_db, topic, group, artifacts / "c1.log", failpoints="inbox.after_db_commit=kill"
    ).start()
    assert crashing.process is not None
    crashing.process.wait(60)
    assert crashing.process.returncode == -9, crashing.output()
    assert effects(engine, event.event_id) == 1, "the DB transaction committed before the crash"
    assert all(offset < 0 for offset in committed_offsets(group, topic, 6).values()), (
        "the offset must not have been committed"
    )

    marker = envelope(note="marker")
    publish(topic, marker.to_json())
    restarted = consumer_process(scratch_db, topic, group, artifacts / "c2.log").start()
    try:
        wait_for(lambda: effects(engine, marker.event_id) == 1, what="marker after restart")
    finally:
        assert restarted.stop() == 0
    assert effects(engine, event.event_id) == 1, "redelivered after the crash, applied once"
    assert "event_duplicate_skipped" in restarted.output()


def test_sigterm_commits_offsets_and_leaves(
    engine: Engine, scratch_db: str, topic: str, artifacts: Path
) -> None:
    group = f"test-{uuid.uuid4().hex[:8]}"
    events = [envelope(note=str(i), key=f"k{i}") for i in range(20)]
    for event in events:
        publish(topic, event.to_json(), key=event.aggregate_id)
    process = consumer_process(scratch_db, topic, group, artifacts / "c.log").start()
    wait_for(lambda: effects(engine) == 20, what="all applied")
    assert process.stop() == 0
    assert "consumer_stopped" in process.output()
    assert sum(max(o, 0) for o in committed_offsets(group, topic, 6).values()) == 20


def record_with_transaction(session: Session, envelope: Envelope) -> None:
    """The effect, noting which transaction applied it."""
    session.execute(
        text("INSERT INTO effects (event_id, note) VALUES (:e, pg_current_xact_id()::text)"),
        {"e": envelope.event_id},
    )


def transactions(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(DISTINCT note) FROM effects")).scalar_one())


def test_messages_that_arrive_together_share_a_transaction_and_still_apply_once(
    engine: Engine, topic: str
) -> None:
    events = [envelope(note=str(i)) for i in range(30)]
    # Published before the consumer starts, so its first polls find many waiting; three are
    # redelivered within the same stretch.
    publish(topic, *(e.to_json() for e in events), *(e.to_json() for e in events[:3]))
    consumer = consumer_for(engine, topic, {"test.recorded": record_with_transaction})
    consumer.batch_locks = no_locks
    with RunningConsumer(consumer):
        wait_for(lambda: effects(engine) == 30, what="every event applied")
        wait_for(
            lambda: (
                metric(
                    "inbox_duplicates_skipped_total",
                    consumer=consumer.name,
                    event_type="test.recorded",
                )
                == 3
            ),
            what="redeliveries skipped",
        )
    assert all(effects(engine, e.event_id) == 1 for e in events)
    assert transactions(engine) < 30, "every event had a transaction of its own: no batching"
    with engine.connect() as conn:
        inbox = conn.execute(text("SELECT count(*) FROM inbox")).scalar_one()
    assert inbox == 30


def test_a_batch_whose_handler_locks_an_undeclared_aggregate_is_applied_one_by_one(
    engine: Engine, topic: str
) -> None:
    def locks_then_records(session: Session, envelope: Envelope) -> None:
        lock_aggregate(session, "test", envelope.aggregate_id)
        record_with_transaction(session, envelope)

    events = [envelope(note=str(i)) for i in range(10)]
    publish(topic, *(e.to_json() for e in events))
    consumer = consumer_for(engine, topic, {"test.recorded": locks_then_records})
    consumer.batch_locks = no_locks  # wrong on purpose: the handler locks "test:k1"
    with RunningConsumer(consumer):
        wait_for(lambda: effects(engine) == 10, what="every event applied")
    assert all(effects(engine, e.event_id) == 1 for e in events)
    assert transactions(engine) == 10, "a batch ran with a lock taken after its first write"


def test_a_failing_message_in_a_batch_does_not_hold_back_the_others(
    engine: Engine, topic: str
) -> None:
    def fails_on_bad(session: Session, envelope: Envelope) -> None:
        if envelope.payload.get("note") == "bad":
            raise ValueError("cannot apply this one")
        record(session, envelope)

    events = [envelope(note="bad" if i == 4 else str(i)) for i in range(10)]
    publish(topic, *(e.to_json() for e in events))
    consumer = consumer_for(
        engine,
        topic,
        {"test.recorded": fails_on_bad},
        retry=RetryPolicy(max_attempts=2, initial_backoff=0.01, max_backoff=0.05),
    )
    consumer.batch_locks = no_locks
    reader = TopicReader(f"{topic}.dlq")
    try:
        with RunningConsumer(consumer):
            wait_for(lambda: effects(engine) == 9, what="the good events applied")
            dead = reader.read_until(lambda ms: len(ms) >= 1)
    finally:
        reader.close()
    assert effects(engine, events[4].event_id) == 0
    assert Envelope.from_json(dead[0].value()).event_id == events[4].event_id


def test_events_the_consumer_has_no_handler_for_are_acknowledged_unread(
    engine: Engine, topic: str
) -> None:
    # The relay's event_type header says what a message is: one this group ignores is passed
    # over without parsing its value (so even a malformed one does not reach the DLQ here).
    producer = Producer({"bootstrap.servers": layout.KAFKA_BOOTSTRAP, "enable.idempotence": True})
    for value in (b"{not json", envelope("test.other").to_json()):
        producer.produce(topic, key="k1", value=value, headers=[("event_type", b"test.other")])
    assert producer.flush(30) == 0
    last = envelope(note="after")
    publish(topic, last.to_json())
    consumer = consumer_for(engine, topic, {"test.recorded": record})
    with RunningConsumer(consumer):
        wait_for(lambda: effects(engine, last.event_id) == 1, what="the handled event")
    assert effects(engine) == 1
    assert metric("inbox_dead_letters_total", consumer=consumer.name, topic=topic) == 0


def test_two_members_of_one_group_each_apply_their_own_topic(engine: Engine, topic: str) -> None:
    # payment_service's group: one member takes its saga step at once, the other gathers the
    # compensations of another topic. Static members (as with KAFKA_GROUP_INSTANCE_ID), so each
    # needs its own instance id or the broker fences one of them off.
    other = f"test{uuid.uuid4().hex[:10]}.events"
    ensure_topics(KafkaSettings(), [other, f"{other}.dlq"])
    kafka = KafkaSettings(group_instance_id=f"host-{uuid.uuid4().hex[:6]}")
    group = f"test-{uuid.uuid4().hex[:8]}"
    steps = InboxConsumer(
        name=group,
        topics=[topic],
        handlers={"test.recorded": record},
        session_factory=sessionmaker(engine),
        kafka=kafka,
    )
    later = InboxConsumer(
        name=group,
        member="later",
        topics=[other],
        handlers={"test.recorded": record},
        session_factory=sessionmaker(engine),
        kafka=kafka,
        consumer_overrides=Subscriptions("unused", gather_ms=200).consumer_overrides(),
    )
    assert (steps.client_id, later.client_id) == (group, f"{group}-later")
    mine, theirs = envelope(note="step"), envelope(note="compensation")
    publish(topic, mine.to_json())
    publish(other, theirs.to_json())
    with RunningConsumer(steps), RunningConsumer(later):
        wait_for(
            lambda: effects(engine, mine.event_id) == effects(engine, theirs.event_id) == 1,
            what="each member's event",
        )
        more = envelope(note="after both joined")
        publish(other, more.to_json())
        wait_for(lambda: effects(engine, more.event_id) == 1, what="the gathering member's next")
    # One group: the offsets of both topics are the group's, committed as each member left.
    assert sum(max(o, 0) for o in committed_offsets(group, topic, 6).values()) == 1
    assert sum(max(o, 0) for o in committed_offsets(group, other, 6).values()) == 2
    # The metrics name the group, whichever member applied the event.
    assert metric("inbox_events_processed_total", consumer=group, event_type="test.recorded") == 3


def transactions_of(engine: Engine, events: list[Envelope]) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(DISTINCT note) FROM effects WHERE event_id = ANY(:ids)"),
                {"ids": [e.event_id for e in events]},
            ).scalar_one()
        )


def test_a_gathering_group_applies_what_came_during_its_window_in_one_transaction(
    engine: Engine, topic: str
) -> None:
    # A group no saga waits on (notifications) lets the broker hold its fetches: events written
    # one by one while a fetch waits come back together and share a transaction.
    gathering: Subscriptions[Any] = Subscriptions("unused", gather_ms=3_000)
    consumer = consumer_for(
        engine,
        topic,
        {"test.recorded": record_with_transaction},
        consumer_overrides=gathering.consumer_overrides(),
    )
    consumer.batch_locks = no_locks
    first = envelope(note="first")
    publish(topic, first.to_json())
    with RunningConsumer(consumer):
        wait_for(lambda: effects(engine, first.event_id) == 1, what="the first event")
        # The consumer is fetching now: each of these is written on its own, the way a
        # service's events come, each of which an eager group would fetch and apply alone.
        later = [envelope(note=str(i)) for i in range(8)]
        for event in later:
            publish(topic, event.to_json())
        wait_for(lambda: effects(engine) == 9, what="the later events")
    # Written within one window (well under 3 s): at most two fetches brought them.
    assert transactions_of(engine, later) <= 2


def publish_typed(topic: str, event: Envelope) -> None:
    """As the relay publishes: with the event_type header."""
    producer = Producer({"bootstrap.servers": layout.KAFKA_BOOTSTRAP, "enable.idempotence": True})
    producer.produce(
        topic,
        key=event.aggregate_id,
        value=event.to_json(),
        headers=[("event_type", event.event_type.encode())],
    )
    assert producer.flush(30) == 0


def test_a_deferrable_event_waits_for_the_next_one_and_shares_its_transaction(
    engine: Engine, topic: str
) -> None:
    handlers = {"test.recorded": record_with_transaction, "test.later": record_with_transaction}
    consumer = consumer_for(
        engine, topic, handlers, batch_locks=no_locks, deferrable=["test.later"], defer_seconds=30
    )
    later, urgent = envelope("test.later", note="later"), envelope(note="urgent")
    with RunningConsumer(consumer):
        publish_typed(topic, later)
        wait_for(lambda: bool(consumer._held), what="the deferrable event held")
        assert effects(engine) == 0
        publish_typed(topic, urgent)
        wait_for(lambda: effects(engine) == 2, what="both events applied")
    assert transactions_of(engine, [later, urgent]) == 1


def test_a_deferrable_event_alone_is_applied_once_its_wait_is_over(
    engine: Engine, topic: str
) -> None:
    consumer = consumer_for(
        engine,
        topic,
        {"test.later": record_with_transaction},
        batch_locks=no_locks,
        deferrable=["test.later"],
        defer_seconds=3,
    )
    later = envelope("test.later", note="later")
    with RunningConsumer(consumer):
        publish_typed(topic, later)
        wait_for(lambda: bool(consumer._held), what="the deferrable event held")
        wait_for(lambda: effects(engine, later.event_id) == 1, what="the held event applied")
    assert not consumer._held


class Fetched:
    """A message as the consumer reads it, for calling its batch path without Kafka."""

    def __init__(self, event: Envelope, offset: int) -> None:
        self._value, self._offset = event.to_json(), offset

    def value(self) -> bytes:
        return self._value

    def headers(self) -> list[tuple[str, bytes]]:
        return []

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return "test.events"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset


def test_a_batch_applies_each_event_once_whether_seen_before_or_twice_in_it(
    engine: Engine,
) -> None:
    first, second = envelope(note="first"), envelope(note="second")
    consumer = consumer_for(engine, "test.events", {"test.recorded": record})
    consumer.batch_locks = no_locks
    fetched: Any = [Fetched(first, 0)]
    assert consumer._apply_batch(fetched)  # alone: the batch path too
    again: Any = [Fetched(first, 1), Fetched(second, 2), Fetched(second, 3)]
    assert consumer._apply_batch(again)
    redelivered: Any = [Fetched(second, 4)]
    assert consumer._apply_batch(redelivered)  # alone again, and seen before
    assert effects(engine, first.event_id) == 1
    assert effects(engine, second.event_id) == 1
    assert (
        metric("inbox_duplicates_skipped_total", consumer=consumer.name, event_type="test.recorded")
        == 3
    )
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT event_id, kafka_offset FROM inbox ORDER BY kafka_offset")
        ).all()
    assert [(r[0], r[1]) for r in rows] == [(first.event_id, 0), (second.event_id, 2)]
    consumer._database.release()


def test_a_batch_racing_another_for_one_event_waits_for_it_and_skips_the_event(
    engine: Engine,
) -> None:
    """Two members applying one event at once (a rebalance hands a partition over while its
    old owner is still applying): the second insert of the inbox row waits for the first
    transaction, then finds the row and applies nothing."""
    event = envelope(note="raced")
    started, release = threading.Event(), threading.Event()

    def slow_record(session: Session, delivered: Envelope) -> None:
        record(session, delivered)
        started.set()
        assert release.wait(30)

    group = f"test-{uuid.uuid4().hex[:8]}"
    old_owner = consumer_for(engine, "test.events", {"test.recorded": slow_record})
    new_owner = consumer_for(engine, "test.events", {"test.recorded": record})
    old_owner.name = new_owner.name = group
    old_owner.batch_locks = new_owner.batch_locks = no_locks
    results: dict[str, bool] = {}
    fetched: Any = [Fetched(event, 7)]
    threads = [
        threading.Thread(target=lambda: results.update(old=old_owner._apply_batch(fetched))),
        threading.Thread(target=lambda: results.update(new=new_owner._apply_batch(fetched))),
    ]
    threads[0].start()
    assert started.wait(30)
    threads[1].start()
    wait_for(lambda: _waiting_on_a_lock(engine), what="the second insert waiting")
    release.set()
    for thread in threads:
        thread.join(30)
    assert results == {"old": True, "new": True}
    assert effects(engine, event.event_id) == 1
    assert metric("inbox_duplicates_skipped_total", consumer=group, event_type="test.recorded") == 1
    old_owner._database.release()
    new_owner._database.release()


def _waiting_on_a_lock(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )
