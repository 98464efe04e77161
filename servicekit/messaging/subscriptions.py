"""What a service consumes, in one table: each event class to one named handler.

    SUBSCRIPTIONS = Subscriptions(
        "order-service",
        on(StockReserved, handlers.on_stock_reserved),
        on(PaymentAuthorized, handlers.on_payment_authorized),
        unit_of_work=SqlOrderUnitOfWork.joining,
    )

A handler is ``on_<event>(event, uow)``: it receives the parsed, typed event and a unit of work
that joins the inbox consumer's transaction (the inbox row and the handler's effect commit
together). The topics follow from the events' aggregates; the inbox consumer gets, for each
event type, an adapter that parses the payload with the event's class, builds the unit of work
with the message as its cause, runs the handler and writes what it recorded to the outbox.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import ValidationError
from sqlalchemy.orm import Session

from servicekit.messaging.envelope import Envelope, EnvelopeError, Event, topic_for
from servicekit.messaging.inbox import AggregateLocks, Handler
from servicekit.messaging.unit_of_work import Cause, UnitOfWorkPort

E = TypeVar("E", bound=Event)
U = TypeVar("U", bound=UnitOfWorkPort)

# A gathering group's fetch waits for this much data, or for its gather_ms (which comes first).
_GATHER_MIN_BYTES = 1 << 20

# Builds the unit of work a handler runs in, joined to the consumer's session.
JoinedUnitOfWork = Callable[[Session, Cause], U]


@dataclass(frozen=True, slots=True)
class Subscription(Generic[E, U]):
    """One consumed event class and its handler."""

    event: type[E]
    handler: Callable[[E, U], None]
    deferrable: bool = False


def on(
    event: type[E], handler: Callable[[E, U], None], *, deferrable: bool = False
) -> Subscription[E, U]:
    """``handler`` applies every ``event`` this service consumes.

    ``deferrable``: no saga waits on this event here (a timeline entry, a reservation turned
    into a sale), so it may wait a fraction of a second for the next event and share its
    transaction (servicekit.messaging.inbox.InboxConsumer._hold; the table needs batch_locks).
    """
    return Subscription(event, handler, deferrable)


class Subscriptions(Generic[U]):
    """A service's consumer group and the handler of each event it consumes."""

    def __init__(
        self,
        group: str,
        *subscriptions: Subscription[Any, U],
        unit_of_work: JoinedUnitOfWork[U] | None = None,
        batch_locks: AggregateLocks | None = None,
        gather_ms: int = 0,
        member: str = "",
    ) -> None:
        if gather_ms < 0:
            raise ValueError(f"{group}: gather_ms must be 0 or more, not {gather_ms}")
        self.group = group
        # Set: one of several members of the group in the service, each consuming its own
        # topics (servicekit.service_app.members), e.g. one that gathers and one that does not.
        self.member = member
        # None when the unit of work needs settings: main.py supplies it with using().
        self.unit_of_work = unit_of_work
        # Aggregates the handlers lock, per message: given, messages that arrive together are
        # applied in one transaction (InboxConsumer._apply_batch).
        self.batch_locks = batch_locks
        # For a group no saga waits on (see gathering()); 0: every event fetched at once.
        self.gather_ms = gather_ms
        self._by_type: dict[str, Subscription[Any, U]] = {}
        for subscription in subscriptions:
            event_type = subscription.event.event_type
            if event_type in self._by_type:
                raise ValueError(f"{group}: {event_type} has two handlers")
            self._by_type[event_type] = subscription
        if batch_locks is None and self.deferrable:
            # A held event can only share the next one's transaction through the batch path.
            raise ValueError(f"{group}: deferrable events need batch_locks")

    def using(self, unit_of_work: JoinedUnitOfWork[U]) -> Subscriptions[U]:
        """The same table with this unit of work (for one built from settings at start-up)."""
        return self._copy(unit_of_work=unit_of_work, gather_ms=self.gather_ms)

    def gathering(self, gather_ms: int) -> Subscriptions[U]:
        """The same table, fetched by gathering: the broker holds each fetch of the group for
        ``gather_ms`` and then answers with every event that arrived meanwhile.

        For a group no saga waits on (notifications). A fetch is one Kafka request per event
        otherwise, answered as soon as the event is written, and the consumer applies each
        in its own transaction; gathered, a fetch brings what a fraction of a second brought
        and, given ``batch_locks``, one transaction applies them all. Each event waits up to
        ``gather_ms`` longer.
        """
        return self._copy(unit_of_work=self.unit_of_work, gather_ms=gather_ms)

    def _copy(
        self, *, unit_of_work: JoinedUnitOfWork[U] | None, gather_ms: int
    ) -> Subscriptions[U]:
        return Subscriptions(
            self.group,
            *self._by_type.values(),
            unit_of_work=unit_of_work,
            batch_locks=self.batch_locks,
            gather_ms=gather_ms,
            member=self.member,
        )

    def consumer_overrides(self) -> dict[str, int]:
        """The consumer settings of this table's fetching (none unless gathering)."""
        if not self.gather_ms:
            return {}
        # The broker answers a fetch once it has fetch.min.bytes or fetch.wait.max.ms passed:
        # a minimum no fraction of a second of events reaches makes the wait the rule.
        return {"fetch.wait.max.ms": self.gather_ms, "fetch.min.bytes": _GATHER_MIN_BYTES}

    @property
    def deferrable(self) -> list[str]:
        """The event types that may wait for company (see on())."""
        return [event_type for event_type, s in self._by_type.items() if s.deferrable]

    @property
    def events(self) -> list[type[Event]]:
        """The consumed event classes."""
        return [s.event for s in self._by_type.values()]

    @property
    def topics(self) -> list[str]:
        """Every topic one of the events travels on."""
        return sorted({topic_for(s.event.aggregate_type) for s in self._by_type.values()})

    def handlers(self) -> dict[str, Handler]:
        """event_type -> ``(session, envelope)`` handler, for the inbox consumer."""
        return {event_type: self._adapter(s) for event_type, s in self._by_type.items()}

    def _adapter(self, subscription: Subscription[Any, U]) -> Handler:
        model, handler, build = subscription.event, subscription.handler, self.unit_of_work
        if build is None:
            raise TypeError(f"{self.group}: no unit of work; give one with using()")

        def apply(session: Session, envelope: Envelope) -> None:
            if envelope.version != model.version:
                raise EnvelopeError(
                    f"{envelope.event_type} v{envelope.version}: "
                    f"this service reads v{model.version}"
                )
            try:
                event = model.model_validate(envelope.payload)
            except ValidationError as exc:
                raise EnvelopeError(f"payload of {envelope.event_type} is invalid: {exc}") from exc
            cause = Cause(envelope.correlation_id, str(envelope.event_id), envelope.event_type)
            uow = build(session, cause)
            handler(event, uow)
            uow.commit()  # the events it recorded; the inbox consumer commits the transaction

        apply.__name__ = handler.__name__
        return apply
