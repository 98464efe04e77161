"""The event envelope every Kafka message carries, and the registry of payload schemas.

Envelope fields are the contract of docs/architecture.md: ``event_id, event_type, version,
aggregate_type, aggregate_id, occurred_at, correlation_id, causation_id, payload``.
Payloads only gain optional fields; a breaking change registers a new ``version``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from servicekit.ids import new_id


class EnvelopeError(ValueError):
    """A message that is not a valid envelope: retrying it cannot help."""


class UnknownEventError(LookupError):
    """No payload schema is registered for this (event_type, version)."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """One domain event as it travels between services."""

    event_type: str
    aggregate_type: str
    aggregate_id: str
    payload: dict[str, Any]
    version: int = 1
    event_id: uuid.UUID = field(default_factory=new_id)
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    correlation_id: str | None = None
    causation_id: str | None = None

    @property
    def topic(self) -> str:
        """The Kafka topic of this event's aggregate."""
        return topic_for(self.aggregate_type)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping, occurred_at as UTC ISO-8601."""
        return {
            "event_id": str(self.event_id),
            "event_type": self.event_type,
            "version": self.version,
            "aggregate_type": self.aggregate_type,
            "aggregate_id": self.aggregate_id,
            "occurred_at": _iso_utc(self.occurred_at),
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "payload": self.payload,
        }

    def to_json(self) -> bytes:
        """The Kafka message value."""
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_json(cls, raw: bytes | str) -> Envelope:
        """Parse a Kafka message value; raises EnvelopeError for anything malformed."""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise EnvelopeError(f"value is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise EnvelopeError("envelope must be a JSON object")
        try:
            payload = data["payload"]
            if not isinstance(payload, dict):
                raise EnvelopeError("payload must be a JSON object")
            version = data.get("version", 1)
            if not isinstance(version, int) or isinstance(version, bool):
                raise EnvelopeError("version must be an integer")
            return cls(
                event_id=uuid.UUID(str(data["event_id"])),
                event_type=_required_str(data, "event_type"),
                version=version,
                aggregate_type=_required_str(data, "aggregate_type"),
                aggregate_id=_required_str(data, "aggregate_id"),
                occurred_at=datetime.fromisoformat(str(data["occurred_at"])),
                correlation_id=data.get("correlation_id"),
                causation_id=data.get("causation_id"),
                payload=payload,
            )
        except KeyError as exc:
            raise EnvelopeError(f"envelope lacks field {exc.args[0]!r}") from exc
        except ValueError as exc:
            if isinstance(exc, EnvelopeError):
                raise
            raise EnvelopeError(f"bad envelope field: {exc}") from exc


def topic_for(aggregate_type: str) -> str:
    """``<aggregate_type>.events``: the topic of an aggregate's events (docs/architecture.md)."""
    return f"{aggregate_type}.events"


def dlq_topic_for(topic: str) -> str:
    """Dead letters of a topic go to ``<topic>.dlq``."""
    return f"{topic}.dlq"


def _required_str(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value:
        raise EnvelopeError(f"{key} must be a non-empty string")
    return value


def _iso_utc(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Event(BaseModel):
    """An integration event's payload, which also knows where it goes.

    Subclasses are registered with :meth:`EventRegistry.register`, which sets the class
    attributes: the event type and version, and the aggregate it belongs to (its topic is
    ``<aggregate_type>.events``, its Kafka key the value of the ``aggregate_key`` field). The
    domain records these objects; the unit of work writes them to the outbox.
    """

    # Unknown fields are kept: a newer producer may add optional fields before consumers know.
    model_config = ConfigDict(extra="allow", frozen=True)

    event_type: ClassVar[str]
    version: ClassVar[int] = 1
    aggregate_type: ClassVar[str]
    aggregate_key: ClassVar[str]

    @property
    def aggregate_id(self) -> str:
        """The id of the aggregate this event is about (the Kafka key)."""
        return str(getattr(self, self.aggregate_key))


ModelT = TypeVar("ModelT", bound=type[BaseModel])


class EventRegistry:
    """Maps (event_type, version) to the Pydantic model of its payload."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, int], type[BaseModel]] = {}

    def register(
        self,
        event_type: str,
        version: int = 1,
        *,
        aggregate: str | None = None,
        key: str | None = None,
    ) -> Callable[[ModelT], ModelT]:
        """Class decorator: ``@registry.register("order.created", aggregate="order",
        key="order_id")`` on a payload model. For an :class:`Event` subclass, ``aggregate``
        and ``key`` say which aggregate it is about and are required."""

        def decorate(model: ModelT) -> ModelT:
            registered = (event_type, version)
            if registered in self._models and self._models[registered] is not model:
                raise ValueError(f"{event_type} v{version} is registered twice")
            if issubclass(model, Event):
                if aggregate is None or key is None or key not in model.__pydantic_fields__:
                    raise ValueError(f"{event_type}: name its aggregate and key field")
                model.event_type = event_type
                model.version = version
                model.aggregate_type = aggregate
                model.aggregate_key = key
            self._models[registered] = model
            return model

        return decorate

    def events(self) -> list[type[Event]]:
        """Every registered Event class, by event type and version."""
        return [
            model
            for _, model in sorted(self._models.items())
            if isinstance(model, type) and issubclass(model, Event)
        ]

    def model_for(self, event_type: str, version: int = 1) -> type[BaseModel]:
        """The payload model, or UnknownEventError."""
        try:
            return self._models[(event_type, version)]
        except KeyError:
            raise UnknownEventError(f"no payload schema for {event_type} v{version}") from None

    def __contains__(self, key: tuple[str, int]) -> bool:
        return key in self._models

    def event_types(self) -> set[str]:
        """Every registered event type."""
        return {event_type for event_type, _ in self._models}

    def parse(self, envelope: Envelope) -> BaseModel:
        """Validate an envelope's payload against its registered model."""
        model = self.model_for(envelope.event_type, envelope.version)
        try:
            return model.model_validate(envelope.payload)
        except ValidationError as exc:
            raise EnvelopeError(
                f"payload of {envelope.event_type} v{envelope.version} is invalid: {exc}"
            ) from exc

    def dump(
        self, event_type: str, payload: BaseModel | Mapping[str, Any], version: int = 1
    ) -> dict[str, Any]:
        """A payload as JSON-ready dict, validated when its type is registered."""
        if (event_type, version) in self._models:
            model = self._models[(event_type, version)]
            instance = payload if isinstance(payload, model) else model.model_validate(payload)
            return instance.model_dump(mode="json")
        if isinstance(payload, BaseModel):
            return payload.model_dump(mode="json")
        return dict(payload)
