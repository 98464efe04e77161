"""The envelope contract and the payload registry, without any engine."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest
from pydantic import BaseModel

from servicekit.messaging.envelope import Envelope, EnvelopeError, EventRegistry, UnknownEventError


def test_round_trip_keeps_every_field() -> None:
    original = Envelope(
        event_type="order.created",
        aggregate_type="order",
        aggregate_id="o-1",
        payload={"total": "19.99"},
        version=2,
        correlation_id="c",
        causation_id="e0",
        occurred_at=datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=UTC),
    )
    data = orjson.loads(original.to_json())
    assert set(data) == {
        "event_id",
        "event_type",
        "version",
        "aggregate_type",
        "aggregate_id",
        "occurred_at",
        "correlation_id",
        "causation_id",
        "payload",
    }
    assert data["occurred_at"] == "2026-01-02T03:04:05.000600Z"
    assert Envelope.from_json(original.to_json()) == original
    assert original.topic == "order.events"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[]", "JSON object"),
        (b'{"event_type": "x"}', "lacks field"),
        (
            orjson.dumps(
                {
                    "event_id": "nope",
                    "event_type": "x",
                    "aggregate_type": "a",
                    "aggregate_id": "1",
                    "occurred_at": "2026-01-01T00:00:00Z",
                    "payload": {},
                }
            ),
            "bad envelope field",
        ),
        (
            orjson.dumps(
                {
                    "event_id": str(uuid.uuid4()),
                    "event_type": "",
                    "aggregate_type": "a",
                    "aggregate_id": "1",
                    "occurred_at": "2026-01-01T00:00:00Z",
                    "payload": {},
                }
            ),
            "non-empty",
        ),
        (
            orjson.dumps(
                {
                    "event_id": str(uuid.uuid4()),
                    "event_type": "x",
                    "aggregate_type": "a",
                    "aggregate_id": "1",
                    "occurred_at": "2026-01-01T00:00:00Z",
                    "payload": [],
                }
            ),
            "payload must be",
        ),
    ],
)
def test_malformed_envelopes_are_rejected_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(EnvelopeError, match=reason):
        Envelope.from_json(raw)


def test_registry_validates_payloads_by_type_and_version() -> None:
    registry = EventRegistry()

    @registry.register("order.created")
    class OrderCreatedV1(BaseModel):
        order_id: str

    @registry.register("order.created", version=2)
    class OrderCreatedV2(BaseModel):
        order_id: str
        total: str

    env = Envelope(
        event_type="order.created",
        aggregate_type="order",
        aggregate_id="1",
        payload={"order_id": "1", "total": "5.00"},
        version=2,
    )
    parsed = registry.parse(env)
    assert isinstance(parsed, OrderCreatedV2)
    assert registry.dump("order.created", {"order_id": "1"}) == {"order_id": "1"}
    with pytest.raises(EnvelopeError, match="invalid"):
        registry.parse(
            Envelope(
                event_type="order.created",
                aggregate_type="order",
                aggregate_id="1",
                payload={},
                version=1,
            )
        )
    with pytest.raises(UnknownEventError):
        registry.model_for("order.created", 3)
    with pytest.raises(ValueError, match="twice"):
        registry.register("order.created")(OrderCreatedV2)
    assert registry.event_types() == {"order.created"}
