"""ensure_topics reports every failure as a KafkaException, the one its callers retry."""

from __future__ import annotations

from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from servicekit.messaging.kafka import ensure_topics
from servicekit.settings import KafkaSettings


class _SilentController:
    """An admin client whose topic creation is never answered (a broker between controllers)."""

    def list_topics(self, timeout: float) -> Any:
        return SimpleNamespace(topics={})

    def create_topics(self, topics: list[Any], **_: Any) -> dict[str, Future[None]]:
        return {topic.topic: Future() for topic in topics}


def test_a_creation_left_unanswered_is_a_retriable_kafka_error() -> None:
    with pytest.raises(KafkaException) as raised:
        ensure_topics(KafkaSettings(), ["order.events"], admin=_SilentController(), timeout=0.05)
    error = raised.value.args[0]
    assert error.code() == KafkaError._TIMED_OUT and error.retriable()
    assert "order.events" in error.str()
