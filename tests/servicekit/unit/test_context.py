"""servicekit.context.bound: the trace context of a request or message, visible to the code and
to every log line inside the block, and nothing of it left behind after."""

from __future__ import annotations

import structlog

from servicekit.context import bound, current, trace_id_of

PARENT = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"


def test_the_block_sees_its_context_and_its_log_fields() -> None:
    with bound(correlation_id="c1", traceparent=PARENT, causation_id="e1", event_type="x") as ctx:
        assert current() == ctx
        assert ctx.causation_id == "e1"
        assert trace_id_of(ctx.traceparent) == "a" * 32  # a child span of the parent's trace
        assert ctx.traceparent != PARENT
        assert structlog.contextvars.get_contextvars() == {
            "correlation_id": "c1",
            "trace_id": "a" * 32,
            "event_type": "x",
        }
    assert current().correlation_id is None
    assert structlog.contextvars.get_contextvars() == {}


def test_a_nested_block_restores_the_outer_fields_it_overwrote_and_drops_its_own() -> None:
    with bound(correlation_id="outer", traceparent=PARENT, event_type="x"):
        with bound(correlation_id="inner", traceparent=None, event_id="e2") as inner:
            fields = structlog.contextvars.get_contextvars()
            assert fields["correlation_id"] == "inner"
            assert fields["event_id"] == "e2"
            assert fields["event_type"] == "x"  # not overwritten: still the outer one
            assert fields["trace_id"] == inner.trace_id != "a" * 32  # a new trace
        assert structlog.contextvars.get_contextvars() == {
            "correlation_id": "outer",
            "trace_id": "a" * 32,
            "event_type": "x",
        }
        assert current().correlation_id == "outer"
    assert structlog.contextvars.get_contextvars() == {}


def test_a_failing_block_leaves_nothing_behind() -> None:
    try:
        with bound(correlation_id="c", traceparent=None, event_id="e"):
            raise RuntimeError("handler failed")
    except RuntimeError:
        pass
    assert structlog.contextvars.get_contextvars() == {}
    assert current().correlation_id is None
