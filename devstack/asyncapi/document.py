"""Builds the AsyncAPI 3.0 document from the event classes, their owners and their consumers.

One channel per topic: ``<aggregate>.events`` with one message per event type and version, and
``<aggregate>.events.dlq`` with the dead letters. One operation per (service, topic, direction):
the owner of an aggregate sends on its topic; each consumer group receives the events it reads
and sends to the topic's DLQ what it cannot apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, models_json_schema
from pydantic_core import CoreSchema

from devstack.asyncapi import wire
from servicekit.messaging.envelope import Event, dlq_topic_for, topic_for

KAFKA_BINDING = "0.5.0"
DEAD_LETTER = "dead_letter"

INFO = (
    "Every event the services exchange over Kafka. A service writes an event to its own outbox "
    "table in the transaction of the state change; the outbox relay publishes it to "
    "`<aggregate>.events`, keyed by the aggregate's id, so one aggregate's events stay in order "
    "on one partition. Each consumer group applies an event once through its inbox and sends "
    "what it cannot apply to `<topic>.dlq`. The Kafka value is the JSON envelope (`Envelope`) "
    "around the event's payload; the headers repeat the envelope's identity (`KafkaHeaders`). "
    "Payloads only gain optional fields; a breaking change is a new version, which is a new "
    "message here."
)


@dataclass(frozen=True, slots=True)
class Consumer:
    """A service's consumer group and the events it reads."""

    service: str
    group: str
    events: tuple[type[Event], ...]


def build(
    events: Sequence[type[Event]],
    owners: Mapping[str, str],
    consumers: Sequence[Consumer],
    *,
    version: str,
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of these events, their owners (aggregate -> service) and
    consumers. Raises ValueError for an event without an owner or a consumer of an unknown
    event."""
    unowned = sorted({e.aggregate_type for e in events} - set(owners))
    if unowned:
        raise ValueError(f"no owner in AGGREGATE_OWNERS for aggregate(s) {', '.join(unowned)}")
    for consumer in consumers:
        strangers = sorted(e.__name__ for e in consumer.events if e not in events)
        if strangers:
            raise ValueError(f"{consumer.service} reads events not in the catalog: {strangers}")
    messages: dict[str, Any] = {DEAD_LETTER: _dead_letter_message()}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for aggregate, owner in owners.items():
        topic, dlq = topic_for(aggregate), dlq_topic_for(topic_for(aggregate))
        carried = sorted(
            (e for e in events if e.aggregate_type == aggregate),
            key=lambda e: (e.event_type, e.version),
        )
        messages.update({message_id(e): _message(e) for e in carried})
        channels[topic] = _channel(aggregate, owner, carried)
        channels[dlq] = _dead_letter_channel(topic)
        operations[f"{owner}.send.{topic}"] = _operation(
            "send",
            topic,
            carried,
            f"{owner} writes these events to its outbox; the relay publishes them",
        )
        for consumer in consumers:
            read = [e for e in carried if e in consumer.events]
            if not read:
                continue
            operations[f"{consumer.service}.receive.{topic}"] = _operation(
                "receive",
                topic,
                read,
                f"{consumer.service} applies each event once through its inbox, in the "
                "transaction of its effect",
                group=consumer.group,
            )
            operations[f"{consumer.service}.send.{dlq}"] = {
                "action": "send",
                "channel": ref("channels", dlq),
                "summary": f"{consumer.service} dead-letters what it cannot apply",
                "messages": [ref("channels", dlq, "messages", DEAD_LETTER)],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Order platform: integration events",
            "version": version,
            "description": INFO,
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "localhost:9092",
                "protocol": "kafka",
                "description": "The broker `make up` runs.",
            },
            "compose": {
                "host": "kafka:9092",
                "protocol": "kafka",
                "description": "The broker inside the docker compose network.",
            },
        },
        "channels": dict(sorted(channels.items())),
        "operations": dict(sorted(operations.items())),
        "components": {
            "messages": dict(sorted(messages.items())),
            "schemas": {**wire.SCHEMAS, **dict(sorted(_payload_schemas(events).items()))},
        },
    }


def message_id(event: type[Event]) -> str:
    """The document's name for one event type and version: ``order.created.v1``."""
    return f"{event.event_type}.v{event.version}"


def ref(*path: str) -> dict[str, str]:
    """A ``$ref`` to ``#/<path>`` in this document (a JSON pointer: ``~`` and ``/`` escaped)."""
    parts = (p.replace("~", "~0").replace("/", "~1") for p in path)
    return {"$ref": "#/" + "/".join(parts)}


class _WithoutFieldTitles(GenerateJsonSchema):
    """Pydantic's schemas without a title per field ("Order Id"), which says nothing new."""

    def field_title_should_be_set(self, schema: CoreSchema) -> bool:
        """Never."""
        return False


def _payload_schemas(events: Sequence[type[Event]]) -> dict[str, Any]:
    """The JSON schema of every payload and of the parts they share (lines), by class name."""
    names = [e.__name__ for e in events]
    if len(set(names)) != len(names):
        raise ValueError("two event classes share a name; each needs its own schema name")
    _, definitions = models_json_schema(
        [(event, "validation") for event in events],
        ref_template="#/components/schemas/{model}",
        schema_generator=_WithoutFieldTitles,
    )
    schemas: dict[str, Any] = definitions.get("$defs", {})
    return schemas


def _message(event: type[Event]) -> dict[str, Any]:
    """One event type and version: the envelope around its payload, and its headers."""
    summary = (event.__doc__ or event.__name__).strip().splitlines()[0]
    identity = {
        "event_type": {"const": event.event_type},
        "aggregate_type": {"const": event.aggregate_type},
    }
    return {
        "name": event.event_type,
        "title": f"{event.__name__} (v{event.version})",
        "summary": summary,
        "contentType": "application/json",
        "correlationId": {
            "location": "$message.header#/correlation_id",
            "description": "Every event caused by one request carries that request's id.",
        },
        "headers": {
            "allOf": [
                ref("components", "schemas", "KafkaHeaders"),
                {"properties": {**identity, "version": {"const": str(event.version)}}},
            ]
        },
        "payload": {
            "allOf": [
                ref("components", "schemas", "Envelope"),
                {
                    "properties": {
                        **identity,
                        "version": {"const": event.version},
                        "aggregate_id": {"description": f"payload.{event.aggregate_key}"},
                        "payload": ref("components", "schemas", event.__name__),
                    }
                },
            ]
        },
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "description": f"payload.{event.aggregate_key}",
                },
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }


def _dead_letter_message() -> dict[str, Any]:
    return {
        "name": DEAD_LETTER,
        "title": "A message a consumer group gave up on",
        "summary": "The original key and value, byte for byte (not always a valid envelope), "
        "with the failure in the headers.",
        "headers": ref("components", "schemas", "DeadLetterHeaders"),
        "payload": {"description": "The original Kafka value, unchanged."},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "The original key."},
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }


def _channel(aggregate: str, owner: str, events: Sequence[type[Event]]) -> dict[str, Any]:
    keys = " or ".join(sorted({f"payload.{e.aggregate_key}" for e in events})) or "its id"
    return {
        "address": topic_for(aggregate),
        "title": f"{aggregate} events",
        "description": f"Every event of the {aggregate} aggregate, written by {owner} alone, "
        f"keyed by {keys}: the events of one key reach one partition in the order they were "
        "written.",
        "messages": {message_id(e): ref("components", "messages", message_id(e)) for e in events},
    }


def _dead_letter_channel(topic: str) -> dict[str, Any]:
    return {
        "address": dlq_topic_for(topic),
        "title": f"{topic} dead letters",
        "description": f"Messages of {topic} that a consumer group could not apply: not a valid "
        "envelope, or still failing after its retries. The partition they came from moves on.",
        "messages": {DEAD_LETTER: ref("components", "messages", DEAD_LETTER)},
    }


def _operation(
    action: str, topic: str, events: Sequence[type[Event]], summary: str, group: str | None = None
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "action": action,
        "channel": ref("channels", topic),
        "summary": summary,
        "messages": [ref("channels", topic, "messages", message_id(e)) for e in events],
    }
    if group is not None:
        operation["bindings"] = {
            "kafka": {
                "groupId": {"type": "string", "enum": [group]},
                "bindingVersion": KAFKA_BINDING,
            }
        }
    return operation
