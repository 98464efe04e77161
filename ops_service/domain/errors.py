"""What the operators' API refuses, each with the status it answers (api/errors.py)."""

from __future__ import annotations

from collections.abc import Sequence


class OrderNotFound(Exception):
    """404: order_service knows no such order."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id} not found")


class UnknownDeadLetterTopic(Exception):
    """404: no dead-letter topic of that name exists."""

    def __init__(self, topic: str) -> None:
        super().__init__(f"no dead-letter topic named {topic}")


class NoPendingDeadLetters(Exception):
    """404: some asked event ids have no dead letter waiting on that topic."""

    def __init__(self, topic: str, event_ids: Sequence[str]) -> None:
        shown = ", ".join(event_ids[:5]) + (" ..." if len(event_ids) > 5 else "")
        super().__init__(f"no dead letter waiting for replay on {topic} for event ids: {shown}")
        self.event_ids = list(event_ids)
