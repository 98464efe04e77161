"""The thread through the system: correlation id, W3C trace context and the event being handled,
kept in context variables so logs and outbox rows pick them up without being passed around.

Set by RequestContextMiddleware for an HTTP request and by InboxConsumer for each message; read by
:func:`servicekit.messaging.add_event` (headers of the events written) and by the log processors
(every line of that request or message carries them).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import structlog

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(frozen=True, slots=True)
class TraceContext:
    """What flows from a request or an event into everything it causes."""

    correlation_id: str | None = None
    traceparent: str | None = None
    causation_id: str | None = None

    @property
    def trace_id(self) -> str | None:
        """The 32-hex trace id of the traceparent."""
        return trace_id_of(self.traceparent)


# TraceContext is frozen, so sharing the default instance is safe.
_current: ContextVar[TraceContext] = ContextVar(
    "trace_context",
    default=TraceContext(),  # noqa: B039
)


def current() -> TraceContext:
    """The context of the request or message being handled (empty outside one)."""
    return _current.get()


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a valid W3C traceparent, else None."""
    match = _TRACEPARENT.match(traceparent or "")
    return match.group(1) if match and match.group(1) != "0" * 32 else None


def child_traceparent(parent: str | None) -> str:
    """A new span in the parent's trace (a new trace when there is no valid parent)."""
    trace_id = trace_id_of(parent) or secrets.token_hex(16)
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"


@contextmanager
def bound(
    *,
    correlation_id: str | None,
    traceparent: str | None,
    causation_id: str | None = None,
    **log_fields: object,
) -> Iterator[TraceContext]:
    """Make a context current (and visible in logs) for the duration of the block."""
    span = child_traceparent(traceparent)
    context = TraceContext(correlation_id, span, causation_id)
    token = _current.set(context)
    fields = {"correlation_id": correlation_id, "trace_id": context.trace_id, **log_fields}
    # Set and reset by their tokens: structlog's bound_contextvars() copies the whole context
    # to save what it overwrites and sets every key twice more on the way out (a block cost
    # 13 us with it, 9 us so; a consumer enters two per event). Reset restores what was there.
    logged = structlog.contextvars.bind_contextvars(
        **{k: v for k, v in fields.items() if v is not None}
    )
    try:
        yield context
    finally:
        structlog.contextvars.reset_contextvars(**logged)
        _current.reset(token)
