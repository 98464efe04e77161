"""JSON schemas of what every event looks like on Kafka, whatever its type: the envelope (the
message value), the headers, and the headers of a dead letter.

Written out rather than derived: they describe bytes that three pieces of code produce
(``servicekit.messaging.envelope.Envelope.to_json``, the relay's ``encode_message`` and the
inbox consumer's ``dead_letter_headers``), and tests/devstack/unit/test_asyncapi.py validates
real output of each against them.
"""

from __future__ import annotations

from typing import Any

ENVELOPE: dict[str, Any] = {
    "type": "object",
    "description": "The Kafka message value: one event and where it comes from.",
    "required": [
        "event_id",
        "event_type",
        "version",
        "aggregate_type",
        "aggregate_id",
        "occurred_at",
        "correlation_id",
        "causation_id",
        "payload",
    ],
    "properties": {
        "event_id": {
            "type": "string",
            "format": "uuid",
            "description": "The event's identity everywhere: outbox row, header, inbox key.",
        },
        "event_type": {"type": "string", "description": "Past tense, e.g. order.created."},
        "version": {
            "type": "integer",
            "minimum": 1,
            "description": "The payload's version; a breaking change is a new one.",
        },
        "aggregate_type": {"type": "string", "description": "The topic's aggregate."},
        "aggregate_id": {
            "type": "string",
            "description": "The aggregate's id, also the Kafka message key.",
        },
        "occurred_at": {
            "type": "string",
            "format": "date-time",
            "description": "When the event was written, UTC ISO-8601.",
        },
        "correlation_id": {
            "type": ["string", "null"],
            "description": "The request that started the chain of events (X-Correlation-ID).",
        },
        "causation_id": {
            "type": ["string", "null"],
            "description": "The event_id of the consumed event whose handler wrote this one; "
            "null when a request did.",
        },
        "payload": {"type": "object", "description": "The event's own fields."},
    },
    "additionalProperties": False,
}

KAFKA_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "Kafka headers of every event, UTF-8 text. The first four are always there; "
    "the others when the writer had them (from the request or the consumed message).",
    "required": ["event_id", "event_type", "version", "aggregate_type"],
    "properties": {
        "event_id": {"type": "string", "format": "uuid"},
        "event_type": {"type": "string"},
        "version": {"type": "string", "pattern": "^[1-9][0-9]*$"},
        "aggregate_type": {"type": "string"},
        "correlation_id": {"type": "string"},
        "causation_id": {"type": "string"},
        "traceparent": {"type": "string", "description": "W3C trace context."},
    },
    "additionalProperties": {"type": "string"},
}

DEAD_LETTER_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "The failed message's own headers (KafkaHeaders when it was an event), then "
    "what failed, where and when.",
    "required": [
        "dlq.error",
        "dlq.error_type",
        "dlq.stacktrace",
        "dlq.attempts",
        "dlq.consumer",
        "dlq.original_topic",
        "dlq.original_partition",
        "dlq.original_offset",
        "dlq.failed_at",
    ],
    "properties": {
        "dlq.error": {"type": "string", "description": "The error, at most 2,000 characters."},
        "dlq.error_type": {"type": "string"},
        "dlq.stacktrace": {"type": "string", "description": "Its last 4,000 characters."},
        "dlq.attempts": {"type": "string", "pattern": "^[0-9]+$"},
        "dlq.consumer": {"type": "string", "description": "The consumer group that gave up."},
        "dlq.original_topic": {"type": "string"},
        "dlq.original_partition": {"type": "string", "pattern": "^[0-9]+$"},
        "dlq.original_offset": {"type": "string", "pattern": "^[0-9]+$"},
        "dlq.failed_at": {"type": "string", "format": "date-time"},
    },
    "additionalProperties": {"type": "string"},
}

# Under these names in the document's components/schemas.
SCHEMAS: dict[str, dict[str, Any]] = {
    "Envelope": ENVELOPE,
    "KafkaHeaders": KAFKA_HEADERS,
    "DeadLetterHeaders": DEAD_LETTER_HEADERS,
}
