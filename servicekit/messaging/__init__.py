"""The messaging core: envelope and event registry, outbox writer, inbox consumer, Kafka wiring.

Publishing belongs to the relay (outbox_relay/); a service only ever writes outbox rows inside its
own transaction, and consumes through :class:`~servicekit.messaging.inbox.InboxConsumer`.
"""

from servicekit.messaging.envelope import Envelope, EventRegistry, UnknownEventError
from servicekit.messaging.outbox import AggregateOrderError, add_event, lock_aggregate

__all__ = [
    "AggregateOrderError",
    "Envelope",
    "EventRegistry",
    "UnknownEventError",
    "add_event",
    "lock_aggregate",
]
