"""ops_service's metrics: replays of dead letters, per dead-letter topic."""

from __future__ import annotations

from prometheus_client import Counter

# The label is a .dlq topic that exists (a replay of any other is refused first): bounded.
DLQ_REPLAYS = Counter(
    "dlq_replays_total", "Replays that put dead letters back on their topic.", ["topic"]
)
DLQ_REPLAYED_MESSAGES = Counter(
    "dlq_replayed_messages_total", "Messages replays put back on their original topic.", ["topic"]
)


def replayed(topic: str, messages: int) -> None:
    """Count one replay of ``messages`` messages from ``topic``."""
    DLQ_REPLAYS.labels(topic).inc()
    DLQ_REPLAYED_MESSAGES.labels(topic).inc(messages)
