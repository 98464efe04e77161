"""The unit of work: one transaction of a service, and the events it publishes.

A use case (a command, or the handler of a consumed event) gets a unit of work, asks it for the
aggregates it changes, and changes them; the domain records what happened as event objects (the
:class:`~servicekit.messaging.envelope.Event` classes of the catalog). When the work succeeds,
the unit of work writes those events to the outbox *in the same transaction* as the change, with
the correlation and causation of the request or message being handled, and commits. Handlers
never commit and never write outbox rows themselves.

Locks. A transaction that emits events for an aggregate must take that aggregate's lock before
its first write (:func:`~servicekit.messaging.outbox.lock_aggregate` says why), so repositories
call :meth:`UnitOfWork.lock` before they load an aggregate for change; writing an event of an
aggregate that was not locked before the first write fails loudly.

Two implementations share the event bookkeeping: :class:`SqlUnitOfWork` on a SQLAlchemy session
(the transaction its own, or joined: the inbox consumer's, which also records the inbox row), and
:class:`InMemoryUnitOfWork` for unit tests of the rules, which keeps what would have been
published in a list.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol, Self, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from servicekit.context import current as current_context
from servicekit.ids import new_id
from servicekit.messaging.envelope import Event
from servicekit.messaging.outbox import add_event, lock_aggregate


class Aggregate(Protocol):
    """What the unit of work needs of a domain aggregate: the events it recorded, in order."""

    events: list[Event]


class UnitOfWorkPort(Protocol):
    """What a use case sees of its unit of work; a service's port protocol extends it with
    its repositories (``orders: Orders``, ...)."""

    @property
    def cause(self) -> Cause:
        """The request or message being handled."""
        ...

    def lock(self, aggregate_type: str, aggregate_id: str) -> None:
        """Serialise writers of one aggregate; before the transaction's first write."""
        ...

    def track(self, aggregate: Aggregate) -> None:
        """Publish this aggregate's recorded events with the work."""
        ...

    def emit(self, event: Event) -> None:
        """Publish an event no aggregate object recorded."""
        ...

    def commit(self) -> list[Published]:
        """Write the events and end the transaction (runners call it, never use cases)."""
        ...


@dataclass(frozen=True, slots=True)
class Cause:
    """Why the work is done: the request or consumed message, as the outbox headers say it."""

    correlation_id: str | None = None
    causation_id: str | None = None  # the consumed event's id; None for a request
    causation_type: str | None = None  # the consumed event's type

    @classmethod
    def current(cls) -> Cause:
        """The request or message being handled (servicekit.context)."""
        context = current_context()
        return cls(context.correlation_id, context.causation_id)


@dataclass(frozen=True, slots=True)
class Published:
    """An event the unit of work wrote to the outbox, with the id it got."""

    event: Event
    event_id: uuid.UUID


class UnitOfWork:
    """The bookkeeping every unit of work shares; see the module docstring."""

    def __init__(self, cause: Cause | None = None) -> None:
        self.cause = cause or Cause.current()
        self._seen: list[Aggregate] = []
        self._emitted: list[Event] = []
        self.published: list[Published] = []

    def lock(self, aggregate_type: str, aggregate_id: str) -> None:
        """Serialise writers of one aggregate until the end of the transaction; before the
        transaction's first write."""
        raise NotImplementedError

    def track(self, aggregate: Aggregate) -> None:
        """Collect this aggregate's events when the work commits (repositories call it for
        every aggregate they load for change or add)."""
        if not any(seen is aggregate for seen in self._seen):
            self._seen.append(aggregate)

    def emit(self, event: Event) -> None:
        """Publish an event that no aggregate object recorded (a read model's, a process's)."""
        self._emitted.append(event)

    def collect(self) -> list[Event]:
        """Every recorded event not yet written, in the order recorded, and forget them."""
        events: list[Event] = []
        for aggregate in self._seen:
            events.extend(aggregate.events)
            aggregate.events.clear()
        events.extend(self._emitted)
        self._emitted.clear()
        return events

    def commit(self) -> list[Published]:
        """Write the recorded events, then end the transaction; returns what was published."""
        written = [self._write(event) for event in self.collect()]
        self.published.extend(written)
        self.after_write(written)
        self._commit()
        return written

    def after_write(self, published: list[Published]) -> None:
        """Hook: more work in the same transaction for what was just published (a service's
        timeline, its metrics). Does nothing by default."""

    def _write(self, event: Event) -> Published:
        raise NotImplementedError

    def _commit(self) -> None:
        raise NotImplementedError


class SqlUnitOfWork(UnitOfWork):
    """A unit of work on a SQLAlchemy session.

    ``owns_transaction``: commit() commits the session (commands). Otherwise it joins a
    transaction someone else commits (the inbox consumer's, with the inbox row): commit()
    writes the events into it and leaves the commit to its owner.
    """

    def __init__(
        self, session: Session, *, owns_transaction: bool = True, cause: Cause | None = None
    ) -> None:
        super().__init__(cause)
        self.session = session
        self.owns_transaction = owns_transaction

    def lock(self, aggregate_type: str, aggregate_id: str) -> None:
        """See :func:`servicekit.messaging.outbox.lock_aggregate`."""
        lock_aggregate(self.session, aggregate_type, aggregate_id)

    def _write(self, event: Event) -> Published:
        event_id = add_event(
            self.session,
            aggregate_type=event.aggregate_type,
            aggregate_id=event.aggregate_id,
            event_type=event.event_type,
            version=event.version,
            payload=event,
            correlation_id=self.cause.correlation_id,
            causation_id=self.cause.causation_id,
        )
        return Published(event, event_id)

    def _commit(self) -> None:
        if self.owns_transaction:
            self.session.commit()


class InMemoryUnitOfWork(UnitOfWork):
    """For unit tests on fakes: what would be published is kept in ``published``; the locks
    taken, in order, in ``locks``; ``committed`` counts commits."""

    def __init__(self, cause: Cause | None = None) -> None:
        super().__init__(cause)
        self.locks: list[tuple[str, str]] = []
        self.committed = 0

    def lock(self, aggregate_type: str, aggregate_id: str) -> None:
        """Remembered, in order; taken once, as a transaction's advisory lock is."""
        if (aggregate_type, aggregate_id) not in self.locks:
            self.locks.append((aggregate_type, aggregate_id))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        """Like :func:`transaction`: commit when the block ends normally, else roll back."""
        if kind is None:
            self.commit()
        else:
            self.rollback()

    def rollback(self) -> None:
        """Forget everything recorded and not committed."""
        self.collect()

    def _write(self, event: Event) -> Published:
        return Published(event, new_id())

    def _commit(self) -> None:
        self.committed += 1

    def events(self, kind: type[Event] | None = None) -> list[Event]:
        """What was published so far (of one class, if given), in order."""
        return [p.event for p in self.published if kind is None or isinstance(p.event, kind)]


U = TypeVar("U", bound=UnitOfWork)
R = TypeVar("R")


@contextmanager
def transaction(sessions: sessionmaker[Session], build: Callable[[Session], U]) -> Iterator[U]:
    """A unit of work that owns its transaction: yields it, commits when the block ends
    normally (events included), rolls back when it raises."""
    with sessions() as session:
        session.begin()
        try:
            uow = build(session)
            yield uow
            uow.commit()
        except BaseException:
            session.rollback()
            raise


def run(
    sessions: sessionmaker[Session], build: Callable[[Session], U], work: Callable[[U], R]
) -> R:
    """``work(uow)`` in its own transaction (see :func:`transaction`); returns what it returns."""
    with transaction(sessions, build) as uow:
        return work(uow)
