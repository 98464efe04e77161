"""How `make trace` and `make dlq` print what the operators' API answers: one timeline of saga
steps, messages and inbox entries in time order, the log lines after it, one dead letter per
line."""

from __future__ import annotations

import json

from devstack.operators import render_dead_letter, render_trace

TRACE = {
    "order_id": "o-1",
    "correlation_id": "c-1",
    "timeline": [
        {
            "step": "order placed",
            "event_type": "order.created",
            "service": "order_service",
            "at": "2026-11-29T21:00:25.877000Z",
        },
    ],
    "messages": [
        {
            "topic": "order.events",
            "partition": 5,
            "offset": 4929,
            "key": "o-1",
            "event_type": "order.created",
            "event_id": "e-1",
            "headers": {},
            "timestamp": "2026-11-29T21:00:25.880000Z",
        },
        {
            "topic": "stock_reservation.events",
            "partition": 5,
            "offset": 4489,
            "key": "o-1",
            "event_type": "stock.reserved",
            "event_id": "e-2",
            "headers": {},
            "timestamp": "2026-11-30T00:00:01.000000Z",
        },
    ],
    "inbox": [
        {
            "service": "product-service",
            "consumer": "product-service",
            "event_id": "e-1",
            "event_type": "order.created",
            "topic": "order.events",
            "partition": 5,
            "offset": 4929,
            "processed_at": "2026-11-29T21:00:25.888000Z",
        },
    ],
    "inbox_sources": [{"service": "payment-service", "available": False, "detail": "answered 503"}],
    "truncated": True,
}


def test_the_trace_is_one_timeline_in_time_order_then_the_log_lines() -> None:
    log = json.dumps(
        {
            "event": "order_created",
            "level": "info",
            "order_id": "o-1",
            "timestamp": "2026-11-29T21:00:25.879000Z",
            "correlation_id": "c-1",
        }
    )
    lines = render_trace(TRACE, [("2026-11-29T21:00:25.879000Z", "order_service", log)])
    assert lines[:3] == [
        "order o-1",
        "correlation id c-1",
        "2 Kafka messages, 1 inbox entries (cut short by a bound: more may exist)",
    ]
    assert "inbox of payment-service unavailable: answered 503" in lines
    start = lines.index("timeline (2026-11-29, UTC)")
    timeline = lines[start + 1 : start + 5]
    assert [line.split()[1] for line in timeline[:3]] == ["saga", "kafka", "inbox"]
    assert timeline[0].startswith("  21:00:25.877  saga")
    assert "order.events[5]@4929" in timeline[1]
    assert "applied from order.events[5]@4929" in timeline[2]
    assert timeline[3].startswith("  2026-11-30 00:00:01.000  kafka")  # another day: dated
    assert lines[-2] == "log lines with this correlation id (1)"
    assert lines[-1].split() == [
        "21:00:25.879",
        "order_service",
        "info",
        "order_created",
        "order_id=o-1",
    ]


def test_a_dead_letter_is_one_line_saying_where_what_who_and_why() -> None:
    line = render_dead_letter(
        {
            "topic": "order.events.dlq",
            "partition": 2,
            "offset": 7,
            "key": "o-1",
            "event_type": "order.created",
            "event_id": "e-1",
            "error": "EnvelopeError('x')\nmore",
            "error_type": "EnvelopeError",
            "attempts": 1,
            "dead_at": "2026-11-29T21:00:25Z",
            "consumer": "product-service",
            "original_topic": "order.events",
            "replayed_at": "2026-11-29T21:05:00Z",
        }
    )
    assert "\n" not in line
    assert line.startswith("2026-11-29T21:00:25Z  order.events.dlq[2]@7  order.created")
    assert "by product-service after 1 attempt(s): EnvelopeError('x')" in line
    assert line.endswith("[replayed 2026-11-29T21:05:00Z]")
