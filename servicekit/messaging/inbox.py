"""The idempotent inbox consumer: every service consumes Kafka through this one loop.

For each message: parse the envelope, and in ONE database transaction run the handler and insert
the inbox row ``(consumer, event_id)``; commit; only then commit the Kafka offset. A redelivered
event finds its inbox row and is skipped (and counted). Errors are retried with backoff; a message
that still fails goes to ``<topic>.dlq`` with the error in its headers, and the partition moves on.
While the database is unreachable the consumer waits and retries rather than dead-lettering
healthy messages.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from prometheus_client import Counter
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from servicekit.context import bound
from servicekit.db import KeptConnection, sql, sql_later
from servicekit.failpoints import failpoint
from servicekit.logging import get_logger
from servicekit.messaging.envelope import Envelope, EnvelopeError, dlq_topic_for
from servicekit.messaging.kafka import (
    KafkaHeaders,
    consumer_config,
    ensure_topics,
    producer_config,
)
from servicekit.messaging.outbox import lock_aggregate, seal_aggregate_locks
from servicekit.settings import KafkaSettings

log = get_logger(__name__)

Handler = Callable[[Session, Envelope], None]
# The aggregates a handler will lock (lock_aggregate) for an event: (aggregate_type, id) pairs.
AggregateLocks = Callable[[Envelope], Iterable[tuple[str, str]]]


def locks_by_payload(aggregate_type: str, key: str = "order_id") -> AggregateLocks:
    """Batch locks for handlers that lock ``(aggregate_type, payload[key])``, when present."""

    def locks(envelope: Envelope) -> list[tuple[str, str]]:
        value = envelope.payload.get(key)
        return [(aggregate_type, str(value))] if value is not None else []

    return locks


def no_locks(_: Envelope) -> list[tuple[str, str]]:
    """Batch locks for handlers that emit no events, so lock no aggregate."""
    return []


EVENTS_PROCESSED = Counter(
    "inbox_events_processed_total", "Events applied by a handler.", ["consumer", "event_type"]
)
DUPLICATES_SKIPPED = Counter(
    "inbox_duplicates_skipped_total",
    "Redelivered events found in the inbox and skipped.",
    ["consumer", "event_type"],
)
RETRIES = Counter(
    "inbox_retries_total",
    "Handler attempts that failed and were retried.",
    ["consumer", "event_type"],
)
DEAD_LETTERS = Counter(
    "inbox_dead_letters_total", "Messages sent to the DLQ.", ["consumer", "topic"]
)

# The inbox table is created by MESSAGING_DDL (schema.py); these are its hot statements.
_SEEN_SQL = "SELECT 1 FROM inbox WHERE consumer = %(consumer)s AND event_id = %(event_id)s::uuid"
# A batch's inbox rows go in first (after its aggregate locks): the rows that went in are the
# events to apply, a conflict is one applied before (or being applied by a transaction this one
# then waits for). Sorted by event id, so two batches sharing events insert them in one order.
_RECORD_NEW_SQL = """
INSERT INTO inbox (consumer, event_id, event_type, topic, kafka_partition, kafka_offset)
SELECT %(consumer)s, e.* FROM unnest(%(event_ids)s::uuid[], %(event_types)s::text[],
                                     %(topics)s::text[], %(partitions)s::int[],
                                     %(offsets)s::bigint[]) AS e
ORDER BY 2
ON CONFLICT (consumer, event_id) DO NOTHING
RETURNING event_id::text
"""
# The same for a batch of one, the usual case below saturation: the arrays cost more to quote
# and to unpack than the row (one process: 350 against 410 us of client CPU, 250 against 360
# us of the server's, per transaction; a lookup and an insert, 500 and 330).
_RECORD_ONE_NEW_SQL = """
INSERT INTO inbox (consumer, event_id, event_type, topic, kafka_partition, kafka_offset)
VALUES (%(consumer)s, %(event_id)s::uuid, %(event_type)s, %(topic)s, %(partition)s, %(offset)s)
ON CONFLICT (consumer, event_id) DO NOTHING
RETURNING event_id::text
"""
_RECORD_SQL = (
    "INSERT INTO inbox (consumer, event_id, event_type, topic, kafka_partition, kafka_offset)"
    " VALUES (%(consumer)s, %(event_id)s::uuid, %(event_type)s, %(topic)s, %(partition)s,"
    " %(offset)s)"
)

# SQLSTATEs worth an immediate retry: serialization failure, deadlock, lock timeout.
_TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03"}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a failing message is retried before it is dead-lettered."""

    max_attempts: int = 5
    initial_backoff: float = 0.1
    max_backoff: float = 5.0

    def backoff(self, attempt: int) -> float:
        """Exponential backoff for the given (1-based) attempt."""
        return float(min(self.initial_backoff * (2 ** (attempt - 1)), self.max_backoff))


class _DatabaseUnavailable(Exception):
    pass


class InboxConsumer:
    """Consumes ``topics`` as group ``name`` and applies events through ``handlers``.

    ``handlers`` maps event_type to a function ``(session, envelope) -> None`` that does its work
    in the given session and never commits; events of other types on the same topics are
    acknowledged and ignored.

    ``member``: this consumer is one of several members of the group in one process, each on
    its own topics (a group's member that may gather its fetches while another may not); its
    client id and static membership id carry the member's name. The inbox rows, the metrics and
    /health still name the group: an event is the group's to apply once, whichever member
    fetched it.
    """

    def __init__(
        self,
        *,
        name: str,
        member: str = "",
        topics: Iterable[str],
        handlers: Mapping[str, Handler],
        session_factory: sessionmaker[Session],
        kafka: KafkaSettings,
        retry: RetryPolicy | None = None,
        batch_size: int = 200,
        poll_timeout: float = 0.5,
        commit_interval: float = 0.5,
        consumer_overrides: Mapping[str, Any] | None = None,
        batch_locks: AggregateLocks | None = None,
        restart_backoff_max: float = 30.0,
        deferrable: Iterable[str] = (),
        defer_seconds: float = 0.2,
    ) -> None:
        self.name = name
        self.member = member
        self.topics = sorted(set(topics))
        self.handlers = dict(handlers)
        # The consumer's transactions run one after another on its thread: one connection
        # serves them all (see KeptConnection), given back when the consumer stops.
        self._database = KeptConnection(session_factory)
        self.kafka = kafka
        self.retry = retry or RetryPolicy()
        self.batch_size = batch_size
        self.poll_timeout = poll_timeout
        # Offsets are committed at most this often (each commit is a write to Kafka's offsets
        # log: committing per message was the broker's biggest cost in the saga benchmark).
        self.commit_interval = commit_interval
        self._last_commit = 0.0
        self._consumer_overrides = dict(consumer_overrides or {})
        # Given: several fetched messages are applied in one transaction (see _apply_batch).
        self.batch_locks = batch_locks
        # Event types no saga waits on: given batch_locks, they wait up to defer_seconds for
        # the next event, to share its transaction (see _hold).
        self.deferrable = frozenset(deferrable) if batch_locks is not None else frozenset()
        self.defer_seconds = defer_seconds
        self._held: list[Message] = []
        self._held_until = 0.0
        self.restart_backoff_max = restart_backoff_max
        self._consumer: Consumer | None = None
        self._dlq_producer: Producer | None = None
        self._pending: dict[tuple[str, int], int] = {}
        self._log = log.bind(consumer=name, member=member) if member else log.bind(consumer=name)
        self.running = False

    @property
    def client_id(self) -> str:
        """The group's name, and the member's when the group has several here."""
        return f"{self.name}-{self.member}" if self.member else self.name

    # -- lifecycle ---------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set, then commit what was processed and leave the group.

        Outlives any broker or database outage: whatever fails while setting up or consuming
        (Kafka unreachable for longer than a metadata timeout, a fatal client error) closes the
        client and starts over after a backoff that grows to ``restart_backoff_max``, for as
        long as it takes. Events already applied are in the inbox, so starting over from the
        committed offsets only costs redeliveries.
        """
        failures = 0
        while not stop.is_set():
            started = time.monotonic()
            try:
                self._consume(stop)
            except Exception as exc:  # noqa: BLE001 - any failure: start over, never die
                # A session that served a while ends the run of failures: the next outage
                # starts from a short wait again, not from where the last one left off.
                if time.monotonic() - started > self.restart_backoff_max:
                    failures = 0
                failures += 1
                delay = min(0.5 * 2 ** (failures - 1), self.restart_backoff_max)
                self._log.error(
                    "consumer_failed",
                    error=str(exc) or repr(exc),
                    failures=failures,
                    retry_in=delay,
                )
                stop.wait(delay)
            else:
                failures = 0

    def _consume(self, stop: threading.Event) -> None:
        """One consumer session: set up, consume until ``stop``, close. Raises on failure."""
        self._pending.clear()
        self._held.clear()
        ensure_topics(self.kafka, [*self.topics, *(dlq_topic_for(t) for t in self.topics)])
        consumer = self._consumer = Consumer(
            consumer_config(
                self.kafka,
                group_id=self.name,
                client_id=self.client_id,
                static_member=True,
                member=self.member,
                on_commit=self._on_commit,
                **self._consumer_overrides,
            )
        )
        if self._dlq_producer is None:
            self._dlq_producer = Producer(
                producer_config(self.kafka, client_id=f"{self.client_id}-dlq")
            )
        clean = False
        try:
            consumer.subscribe(self.topics, on_revoke=self._on_revoke)
            self.running = True
            self._log.info("consumer_started", topics=self.topics)
            while not stop.is_set():
                messages = self._hold(self._next_batch(consumer, self._poll_wait()))
                if messages and self._apply_batch(messages):
                    messages = []
                for message in messages:
                    if stop.is_set():
                        break
                    self._handle_message(message, stop)
                if time.monotonic() - self._last_commit >= self.commit_interval:
                    self._commit_offsets(wait=False)
            clean = True
        finally:
            self.running = False
            self._database.release()
            if clean:
                self._commit_offsets(wait=True)
            try:
                consumer.close()
            except Exception as exc:  # noqa: BLE001 - a broken client still counts as closed
                self._log.warning("consumer_close_failed", error=str(exc))
            self._consumer = None
            if clean:
                self._dlq_producer.flush(10)
                self._log.info("consumer_stopped")

    def _next_batch(self, consumer: Consumer, timeout: float) -> list[Message]:
        """Wait for one message, then take whatever else is already fetched, without waiting.

        consume(n, timeout) may block for the whole timeout to fill a batch of n: at a low rate
        that is added latency on every hop of the saga. poll() returns on the first message.
        """
        first = consumer.poll(timeout)
        if first is None:
            return []
        return [first, *consumer.consume(self.batch_size - 1, 0)]

    def _poll_wait(self) -> float:
        """How long the next poll may wait: until held messages are due, at most."""
        if not self._held:
            return self.poll_timeout
        return max(0.0, min(self.poll_timeout, self._held_until - time.monotonic()))

    def _hold(self, messages: list[Message]) -> list[Message]:
        """The messages to apply now; deferrable ones wait for company.

        An event no saga waits on (an order's timeline entry, a reservation turned into a sale)
        cost a transaction of its own when it came alone, as it mostly does: the next event,
        a few milliseconds later, had another. Messages that are all deferrable (or that this
        consumer ignores) are held, up to ``defer_seconds``, and applied with whatever comes
        next in one transaction. Everything fetched after them is held behind them, so each
        partition is applied, and its offsets stored, in order; a crash loses only uncommitted
        offsets (the messages come again).
        """
        if not self.deferrable:
            return messages
        waiting = [*self._held, *messages]
        if (
            waiting
            and len(waiting) < self.batch_size
            and all(_can_wait(m, self.handlers, self.deferrable) for m in waiting)
            and any(_event_type(m) in self.deferrable for m in waiting)
        ):
            if not self._held:
                self._held_until = time.monotonic() + self.defer_seconds
            if time.monotonic() < self._held_until:
                self._held = waiting
                return []
        self._held = []
        return waiting

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Everything processed so far is committed before another member takes the partitions.
        self._commit_offsets(wait=True)
        revoked = {(partition.topic, partition.partition) for partition in partitions}
        for key in revoked:
            self._pending.pop(key, None)
        # Held messages of those partitions are the next owner's now (their offsets are not
        # committed): applying them here could store an offset for a partition we lost.
        self._held = [m for m in self._held if (_topic(m), m.partition() or 0) not in revoked]

    def _on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """An asynchronous commit that failed (its coordinator moved, the broker went away) is
        sent again with the next periodic commit, for the partitions still ours: otherwise, once
        no more messages came, nothing would commit those offsets, and the group would show a lag
        that never drains until the next rebalance redelivers them. A newer offset waiting to be
        committed wins."""
        failed = [tp for tp in partitions if error is not None or tp.error is not None]
        if not failed:
            return
        consumer = self._consumer
        owned = {(tp.topic, tp.partition) for tp in consumer.assignment()} if consumer else set()
        retried = 0
        for tp in failed:
            key = (tp.topic, tp.partition)
            if key in owned and tp.offset > self._pending.get(key, -1):
                self._pending[key] = tp.offset
                retried += 1
        reason = error if error is not None else failed[0].error
        self._log.warning("offset_commit_failed", error=str(reason), retried_partitions=retried)

    def _commit_offsets(self, *, wait: bool) -> None:
        """Commit what the database already holds. Periodic commits are asynchronous: a commit
        that is lost only means a redelivery, which the inbox absorbs; on revoke and shutdown
        we wait, so the next owner starts where we stopped."""
        self._last_commit = time.monotonic()
        if not self._pending or self._consumer is None:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._pending.items()]
        try:
            if wait:
                self._consumer.commit(offsets=offsets, asynchronous=False)
            else:
                self._consumer.commit(offsets=offsets, asynchronous=True)
            self._pending.clear()
        except Exception as exc:  # noqa: BLE001 - an uncommitted offset only means a redelivery
            self._log.warning("offset_commit_failed", error=str(exc))

    # -- several messages in one transaction --------------------------------------------------

    def _apply_batch(self, messages: list[Message]) -> bool:
        """Apply every message in one transaction; False (nothing done) to go one by one.

        Under load a poll returns several messages, and one transaction and one inbox statement
        for all of them cost much less than one each; a single message takes this path too
        (one statement fewer than the one-by-one path's lookup and insert). The aggregate locks
        the handlers will take are taken first, in sorted order, because a lock taken after the
        transaction's first write could publish that aggregate's events out of order (see
        servicekit.messaging.outbox); then the inbox rows are inserted, and the events whose
        rows went in are applied. A handler locking anything else fails the batch. Any failure
        rolls the whole batch back and the messages are applied one by one, with the usual
        retries and dead-lettering.
        """
        if self.batch_locks is None:
            return False
        work: list[tuple[Message, Envelope, Handler, dict[str, Any]]] = []
        try:
            for message in messages:
                if message.error() is not None:
                    return False
                if _ignored(message, self.handlers):
                    continue
                envelope = Envelope.from_json(message.value() or b"")
                handler = self.handlers.get(envelope.event_type)
                if handler is not None:
                    work.append((message, envelope, handler, _context_of(message, envelope)))
            applied = self._apply_all(work) if work else []  # per work item: applied or seen
        except Exception as exc:  # noqa: BLE001 - one by one, with retries, decides what to do
            self._log.info("inbox_batch_fell_back", messages=len(messages), error=repr(exc))
            return False
        if work:
            failpoint("inbox.after_db_commit")
        for (_, envelope, _, context), was_applied in zip(work, applied, strict=True):
            with bound(**context):
                event_id, event_type = str(envelope.event_id), envelope.event_type
                if was_applied:
                    EVENTS_PROCESSED.labels(self.name, event_type).inc()
                    self._log.info("event_processed", event_id=event_id, event_type=event_type)
                else:
                    DUPLICATES_SKIPPED.labels(self.name, event_type).inc()
                    self._log.info(
                        "event_duplicate_skipped", event_id=event_id, event_type=event_type
                    )
        for message in messages:
            self._pending[(_topic(message), message.partition() or 0)] = (message.offset() or 0) + 1
        return True

    def _apply_all(
        self, work: list[tuple[Message, Envelope, Handler, dict[str, Any]]]
    ) -> list[bool]:
        """One transaction for the batch; for each item, whether it was applied (or had been)."""
        assert self.batch_locks is not None
        locks = sorted({lock for _, envelope, _, _ in work for lock in self.batch_locks(envelope)})
        first: dict[str, tuple[Message, Envelope]] = {}  # each event once, as first fetched
        for message, envelope, _, _ in work:
            first.setdefault(str(envelope.event_id), (message, envelope))
        outcome: list[bool] = []
        with self._database.transaction() as session:
            for aggregate_type, aggregate_id in locks:
                lock_aggregate(session, aggregate_type, aggregate_id)
            seal_aggregate_locks(session)
            if len(first) == 1:
                ((event_id, (message, envelope)),) = first.items()
                rows = sql(
                    session,
                    _RECORD_ONE_NEW_SQL,
                    {
                        "consumer": self.name,
                        "event_id": event_id,
                        "event_type": envelope.event_type,
                        "topic": _topic(message),
                        "partition": message.partition() or 0,
                        "offset": message.offset() or 0,
                    },
                )
            else:
                rows = sql(
                    session,
                    _RECORD_NEW_SQL,
                    {
                        "consumer": self.name,
                        "event_ids": list(first),
                        "event_types": [e.event_type for _, e in first.values()],
                        "topics": [_topic(m) for m, _ in first.values()],
                        "partitions": [m.partition() or 0 for m, _ in first.values()],
                        "offsets": [m.offset() or 0 for m, _ in first.values()],
                    },
                )
            fresh = {row[0] for row in rows}
            for _, envelope, handler, context in work:
                event_id = str(envelope.event_id)
                if event_id not in fresh:
                    outcome.append(False)
                    continue
                fresh.discard(event_id)  # a second copy in this batch is a duplicate
                with bound(**context):
                    handler(session, envelope)
                outcome.append(True)
        return outcome

    # -- one message ---------------------------------------------------------------------------

    def _handle_message(self, message: Message, stop: threading.Event) -> None:
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                self._log.warning("kafka_consume_error", error=str(error))
            return
        if _ignored(message, self.handlers):
            self._pending[(_topic(message), message.partition() or 0)] = (message.offset() or 0) + 1
            return
        try:
            envelope = Envelope.from_json(message.value() or b"")
        except EnvelopeError as exc:
            if not self._dead_letter(message, exc, stop, attempts=1):
                return
        else:
            handler = self.handlers.get(envelope.event_type)
            with bound(**_context_of(message, envelope)):
                if handler is not None and not self._apply_with_retries(
                    message, envelope, handler, stop
                ):
                    return  # stopped mid-retry: the offset stays, the next owner retries it
        self._pending[(_topic(message), message.partition() or 0)] = (message.offset() or 0) + 1

    def _apply_with_retries(
        self, message: Message, envelope: Envelope, handler: Handler, stop: threading.Event
    ) -> bool:
        """True once the message is finished with (applied, duplicate or dead-lettered)."""
        attempt = 0
        unavailable = 0
        while True:
            attempt += 1
            try:
                self._apply(message, envelope, handler)
                return True
            except _DatabaseUnavailable as exc:
                # Not the message's fault: wait for the database, do not burn attempts. Soon at
                # first (a restart is back within seconds, and every saga waits on this
                # consumer meanwhile), then less and less often.
                attempt -= 1
                unavailable += 1
                delay = self.retry.backoff(unavailable)
                self._log.warning("consumer_database_unavailable", error=str(exc), retry_in=delay)
            except Exception as exc:  # noqa: BLE001 - any handler failure is retried, then DLQ'd
                if attempt >= self.retry.max_attempts:
                    return self._dead_letter(
                        message, exc, stop, attempts=attempt, envelope=envelope
                    )
                RETRIES.labels(self.name, envelope.event_type).inc()
                delay = self.retry.backoff(attempt)
                self._log.warning(
                    "event_handler_failed",
                    event_id=str(envelope.event_id),
                    event_type=envelope.event_type,
                    attempt=attempt,
                    error=repr(exc),
                    retry_in=delay,
                )
            if stop.wait(delay):
                return False

    def _apply(self, message: Message, envelope: Envelope, handler: Handler) -> None:
        event_type = envelope.event_type
        event_id = str(envelope.event_id)
        try:
            with self._database.transaction() as session:
                seen = sql(session, _SEEN_SQL, {"consumer": self.name, "event_id": event_id})
                if seen.first() is not None:
                    DUPLICATES_SKIPPED.labels(self.name, event_type).inc()
                    self._log.info(
                        "event_duplicate_skipped", event_id=event_id, event_type=event_type
                    )
                    return
                handler(session, envelope)
                # Inserted last, so a concurrent duplicate fails here (when the commit sends it,
                # see sql_later) and rolls the effect back.
                sql_later(
                    session,
                    _RECORD_SQL,
                    {
                        "consumer": self.name,
                        "event_id": event_id,
                        "event_type": event_type,
                        "topic": message.topic(),
                        "partition": message.partition(),
                        "offset": message.offset(),
                    },
                )
        except IntegrityError as exc:
            if _is_inbox_conflict(exc):
                DUPLICATES_SKIPPED.labels(self.name, event_type).inc()
                return
            raise
        except OperationalError as exc:
            if _sqlstate(exc) in _TRANSIENT_SQLSTATES:
                raise
            raise _DatabaseUnavailable(str(exc.orig).strip()) from exc
        failpoint("inbox.after_db_commit")
        EVENTS_PROCESSED.labels(self.name, event_type).inc()
        self._log.info("event_processed", event_id=event_id, event_type=event_type)

    def _dead_letter(
        self,
        message: Message,
        exc: BaseException,
        stop: threading.Event,
        *,
        attempts: int,
        envelope: Envelope | None = None,
    ) -> bool:
        """Publish the message to its DLQ, waiting for Kafka as long as it takes; False if
        ``stop`` came first (the offset stays, so the message is not lost)."""
        assert self._dlq_producer is not None
        topic = _topic(message)
        dlq_topic = dlq_topic_for(topic)
        headers = dead_letter_headers(message, exc, consumer=self.name, attempts=attempts)
        delivered: list[KafkaError | None] = []
        while True:
            delivered.clear()
            self._dlq_producer.produce(
                dlq_topic,
                key=message.key(),
                value=message.value(),
                headers=headers,
                on_delivery=lambda err, _msg: delivered.append(err),
            )
            # Wait for this copy's report (delivery.timeout.ms bounds it) before producing
            # another, so an outage does not leave several copies queued.
            while not delivered:
                self._dlq_producer.flush(1.0)
                if not delivered and stop.is_set():
                    return False
            if delivered[0] is None:
                break
            self._log.error("dlq_publish_failed", topic=dlq_topic, error=str(delivered[0]))
            if stop.wait(1.0):
                return False
        DEAD_LETTERS.labels(self.name, topic).inc()
        self._log.error(
            "event_dead_lettered",
            topic=topic,
            partition=message.partition(),
            offset=message.offset(),
            event_id=str(envelope.event_id) if envelope else None,
            event_type=envelope.event_type if envelope else None,
            attempts=attempts,
            error=repr(exc),
        )
        return True


def dead_letter_headers(
    message: Message, exc: BaseException, *, consumer: str, attempts: int
) -> KafkaHeaders:
    """The headers of a message's copy in its DLQ: its own, then what failed, where and when."""
    # The stubs type headers() loosely; at run time it is a list of (str, bytes) tuples.
    headers: KafkaHeaders = list(message.headers() or [])  # type: ignore[arg-type]
    headers += [
        ("dlq.error", repr(exc)[:2000].encode()),
        ("dlq.error_type", type(exc).__name__.encode()),
        ("dlq.stacktrace", "".join(traceback.format_exception(exc))[-4000:].encode()),
        ("dlq.attempts", str(attempts).encode()),
        ("dlq.consumer", consumer.encode()),
        ("dlq.original_topic", _topic(message).encode()),
        ("dlq.original_partition", str(message.partition()).encode()),
        ("dlq.original_offset", str(message.offset()).encode()),
        ("dlq.failed_at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()).encode()),
    ]
    return headers


def _context_of(message: Message, envelope: Envelope) -> dict[str, Any]:
    """The trace context a message's handler runs in (and its log lines carry)."""
    traceparent = None
    headers: KafkaHeaders = list(message.headers() or [])  # type: ignore[arg-type]
    for key, value in headers:
        if key == "traceparent":
            traceparent = value.decode(errors="replace") if isinstance(value, bytes) else value
    return {
        "correlation_id": envelope.correlation_id,
        "traceparent": traceparent,
        "causation_id": str(envelope.event_id),
        "event_id": str(envelope.event_id),
        "event_type": envelope.event_type,
    }


def _ignored(message: Message, handlers: Mapping[str, Handler]) -> bool:
    """Whether the message's ``event_type`` header (the relay sets it) names an event this
    consumer has no handler for: acknowledged without parsing its value.

    A group reads every event of the topics it subscribes to, and most consumers handle few of
    them (payment_service reads four events of an order's saga and handles one); parsing the
    others was most of what those consumers did with them. A message without the header is
    parsed and judged by its envelope as before.
    """
    declared = _event_type(message)
    return declared is not None and declared not in handlers


def _event_type(message: Message) -> str | None:
    """The relay's ``event_type`` header of a message, if it has one."""
    headers: KafkaHeaders = message.headers() or []  # type: ignore[assignment]
    for key, value in headers:
        if key == "event_type":
            return value.decode(errors="replace") if isinstance(value, bytes) else value
    return None


def _can_wait(
    message: Message, handlers: Mapping[str, Handler], deferrable: frozenset[str]
) -> bool:
    """Whether a message may be held: a deferrable event, or one this consumer ignores (a
    message without the header, or an error, is applied at once)."""
    if message.error() is not None:
        return False
    event_type = _event_type(message)
    return event_type is not None and (event_type in deferrable or event_type not in handlers)


def _topic(message: Message) -> str:
    topic = message.topic()
    assert topic is not None, "a consumed message always has a topic"
    return topic


def _sqlstate(exc: DBAPIError) -> str | None:
    return getattr(exc.orig, "pgcode", None)


def _is_inbox_conflict(exc: IntegrityError) -> bool:
    diag = getattr(exc.orig, "diag", None)
    return _sqlstate(exc) == "23505" and getattr(diag, "table_name", None) == "inbox"
