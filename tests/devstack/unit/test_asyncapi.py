"""docs/asyncapi.yaml: the committed document is what the code generates; it has every part an
AsyncAPI 3.0 document needs, and every topic, event, producer and consumer of the code; and what
the relay and the inbox consumer really put on Kafka validates against it."""

from __future__ import annotations

import difflib
import re
import types
import typing
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import jsonschema_rs
import orjson
import pytest
import yaml
from pydantic import BaseModel

from contracts.events import AGGREGATE_OWNERS, CATALOG, OrderConfirmed, OrderCreated
from devstack import layout
from devstack.asyncapi.command import COMMAND, DOCUMENT, consumers, generate
from devstack.asyncapi.document import message_id
from outbox_relay.relay import encode_message
from servicekit.messaging.envelope import Envelope, Event, dlq_topic_for, topic_for
from servicekit.messaging.inbox import dead_letter_headers

# Keys of the components AsyncAPI 3.0 allows (its JSON schema's patternProperties).
COMPONENT_KEY = re.compile(r"^[\w.\-]+$")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text())
    return loaded


def test_the_committed_document_is_what_the_code_generates() -> None:
    committed = DOCUMENT.read_text() if DOCUMENT.exists() else ""
    generated = generate()
    if committed != generated:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                generated.splitlines(keepends=True),
                "committed",
                "generated",
                n=1,
            )
        )
        pytest.fail(f"docs/asyncapi.yaml is out of date: run `{COMMAND}` and commit it\n{diff}")


def test_it_has_every_part_asyncapi_3_requires(document: dict[str, Any]) -> None:
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"]
    assert document["info"]["version"]
    for name, server in document["servers"].items():
        assert server["host"] and server["protocol"] == "kafka", name
    for name, channel in document["channels"].items():
        assert channel["address"] == name
        assert channel["messages"], name
    for name, operation in document["operations"].items():
        assert operation["action"] in ("send", "receive"), name
        channel = operation["channel"]["$ref"]
        assert re.fullmatch(r"#/channels/[^/]+", channel), name
        # AsyncAPI 3: an operation's messages are a subset of its channel's.
        assert operation["messages"], name
        for message in operation["messages"]:
            assert message["$ref"].startswith(f"{channel}/messages/"), name
    for section, entries in document["components"].items():
        for key in entries:
            assert COMPONENT_KEY.match(key), f"components/{section}/{key}"
    for name, message in document["components"]["messages"].items():
        assert message["name"] and "payload" in message, name
    for pointer in _refs(document):
        assert _resolve(document, pointer) is not None, f"{pointer} points nowhere"


def test_every_topic_event_producer_and_consumer_of_the_code_is_in_it(
    document: dict[str, Any],
) -> None:
    channels, operations = document["channels"], document["operations"]
    messages = document["components"]["messages"]
    readers = consumers([service.package for service in layout.SERVICES])
    assert {r.service for r in readers} >= {"order_service", "product_service", "user_service"}
    for aggregate, owner in AGGREGATE_OWNERS.items():
        topic = topic_for(aggregate)
        carried = {message_id(e) for e in CATALOG.events() if e.aggregate_type == aggregate}
        assert set(channels[topic]["messages"]) == carried
        assert set(channels[dlq_topic_for(topic)]["messages"]) == {"dead_letter"}
        sent = operations[f"{owner}.send.{topic}"]
        assert sent["action"] == "send"
        assert {m["$ref"].rsplit("/", 1)[1] for m in sent["messages"]} == carried
        for reader in readers:
            read = {message_id(e) for e in reader.events if e.aggregate_type == aggregate}
            received = operations.get(f"{reader.service}.receive.{topic}")
            if not read:
                assert received is None
                continue
            assert {m["$ref"].rsplit("/", 1)[1] for m in received["messages"]} == read
            assert received["bindings"]["kafka"]["groupId"]["enum"] == [reader.group]
            assert f"{reader.service}.send.{dlq_topic_for(topic)}" in operations
    for event in CATALOG.events():
        message = messages[message_id(event)]
        assert message["name"] == event.event_type
        payload = message["payload"]["allOf"][1]["properties"]
        assert payload["version"] == {"const": event.version}
        assert payload["payload"] == {"$ref": f"#/components/schemas/{event.__name__}"}
        schema = document["components"]["schemas"][event.__name__]
        required = {name for name, field in event.model_fields.items() if field.is_required()}
        assert set(schema.get("required", [])) == required


def test_the_catalog_table_in_the_architecture_page_is_the_codes() -> None:
    page = (layout.REPO / "docs" / "architecture.md").read_text()
    section = page.split("\n## Event catalog\n", 1)[1].split("\n## ", 1)[0]
    row = re.compile(r"\| `([\w.]+)` \| (\d+) \| (\w+) \| `([\w.]+)`, (\w+) \| (.*) \|")
    documented = {
        (m[1], int(m[2])): (m[3], m[4], m[5], set(re.findall(r"\b\w+_service\b", m[6])))
        for m in map(row.fullmatch, section.splitlines())
        if m
    }
    readers = consumers([service.package for service in layout.SERVICES])
    coded = {
        (e.event_type, e.version): (
            AGGREGATE_OWNERS[e.aggregate_type],
            topic_for(e.aggregate_type),
            e.aggregate_key,
            {r.service for r in readers if e in r.events},
        )
        for e in CATALOG.events()
    }
    assert documented == coded, "docs/architecture.md, Event catalog: the table is not the code's"


@pytest.mark.parametrize("event_class", CATALOG.events(), ids=message_id)
def test_what_the_relay_publishes_matches_its_message(
    document: dict[str, Any], event_class: type[Event]
) -> None:
    event = _sample(event_class)
    stored_headers = {
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "correlation_id": "c0ffee",
        "causation_id": str(uuid.uuid4()),
    }
    # A row as FETCH_SQL returns it: (id, txid, aggregate_type, aggregate_id, event_id,
    # event_type, version, headers, payload, created_at), the last four as PostgreSQL's text.
    row = (
        7,
        "1234",
        event.aggregate_type,
        event.aggregate_id,
        str(uuid.uuid4()),
        event.event_type,
        event.version,
        orjson.dumps(stored_headers).decode(),
        event.model_dump_json(),
        "2026-11-29 19:35:37.123456+00",
    )
    value, headers = encode_message(row)
    pointer = f"#/components/messages/{message_id(event_class)}"
    _validate(document, f"{pointer}/payload", orjson.loads(value))
    _validate(document, f"{pointer}/headers", {k: v.decode() for k, v in headers})


def test_a_message_does_not_validate_as_another_event(document: dict[str, Any]) -> None:
    value = _sample(OrderCreated)
    envelope = Envelope(
        event_type="order.created",
        aggregate_type="order",
        aggregate_id=value.aggregate_id,
        payload=value.model_dump(mode="json"),
        correlation_id="c0ffee",
    )
    as_sent = orjson.loads(envelope.to_json())
    _validate(document, "#/components/messages/order.created.v1/payload", as_sent)
    with pytest.raises(jsonschema_rs.ValidationError):
        _validate(document, f"#/components/messages/{message_id(OrderConfirmed)}/payload", as_sent)
    without_items = dict(
        as_sent, payload={k: v for k, v in as_sent["payload"].items() if k != "items"}
    )
    with pytest.raises(jsonschema_rs.ValidationError):
        _validate(document, "#/components/messages/order.created.v1/payload", without_items)


def test_a_dead_letter_matches_its_message(document: dict[str, Any]) -> None:
    class Consumed:
        """What confluent-kafka hands the inbox consumer, as far as dead-lettering reads it."""

        def headers(self) -> list[tuple[str, bytes]]:
            return [("event_type", b"order.created"), ("correlation_id", b"c0ffee")]

        def topic(self) -> str:
            return "order.events"

        def partition(self) -> int:
            return 3

        def offset(self) -> int:
            return 41

    try:
        raise ValueError("payload of order.created is invalid")
    except ValueError as exc:
        headers = dead_letter_headers(Consumed(), exc, consumer="product-service", attempts=5)
    decoded = {key: value.decode() for key, value in headers}
    _validate(document, "#/components/messages/dead_letter/headers", decoded)
    assert decoded["dlq.original_topic"] == "order.events"


def _sample(model: type[BaseModel]) -> Any:
    """An instance of a payload model with a plausible value in every field."""
    return model(**{name: _value(field.annotation) for name, field in model.model_fields.items()})


_SCALARS: dict[Any, Any] = {
    bool: True,
    int: 2,
    datetime: datetime(2026, 11, 29, 19, 35, tzinfo=UTC),
}


def _value(annotation: Any) -> Any:
    if annotation is str:
        return f"s-{uuid.uuid4().hex[:8]}"
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        return [_value(item)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _sample(annotation)
    if isinstance(annotation, types.UnionType):
        return _value(typing.get_args(annotation)[0])
    raise NotImplementedError(f"teach _value about {annotation!r}")


def _validate(document: dict[str, Any], pointer: str, instance: Any) -> None:
    """Validate against the schema at ``pointer``, resolving refs within the document."""
    schema = {"$ref": pointer, "components": document["components"]}
    jsonschema_rs.Draft7Validator(schema, validate_formats=True).validate(instance)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(document: dict[str, Any], pointer: str) -> Any:
    assert pointer.startswith("#/"), pointer
    node: Any = document
    for part in pointer[2:].split("/"):
        node = node.get(part.replace("~1", "/").replace("~0", "~"))
        if node is None:
            return None
    return node
