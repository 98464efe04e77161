"""HotLine: the gateway's access line without the per-record machinery, and the same line."""

from __future__ import annotations

import asyncio
import io
import logging

import pytest
import structlog

from servicekit.logging import HotLine
from tests.servicekit.unit.log_output import lines

FIELDS = {
    "method": "GET",
    "path": "/api/echo/ping",
    "status": 200,
    "upstream": "ECHO",
    "detail": None,
    "duration_ms": 0.5,
}


def test_the_line_is_the_one_structlog_writes(output: io.StringIO) -> None:
    structlog.contextvars.bind_contextvars(request_id="r-1", correlation_id="c-1")
    structlog.get_logger("gateway.access").info("http_request", **FIELDS)
    HotLine("gateway.access").info("http_request", **FIELDS)

    by_structlog, hot = lines(output)[-2:]
    assert hot["request_id"] == "r-1" and hot["service"] == "gateway"
    assert isinstance(hot.pop("timestamp"), str)
    by_structlog.pop("timestamp")
    assert list(hot.items()) == list(by_structlog.items())


def test_outside_an_event_loop_each_line_is_written_at_once(output: io.StringIO) -> None:
    line = HotLine("gateway.access")
    line.info("first", n=1)
    assert lines(output)[-1]["event"] == "first"
    line.info("second", n=2)
    assert lines(output)[-1]["event"] == "second"


def test_on_an_event_loop_a_turns_lines_are_written_together_at_its_end(
    output: io.StringIO,
) -> None:
    line = HotLine("gateway.access")
    written_during_the_turn: list[str] = []

    async def requests() -> None:
        for n in range(3):
            line.info("http_request", n=n)
        written_during_the_turn.append(output.getvalue())
        await asyncio.sleep(0)  # the turn ends: the loop runs the flush it was given

    asyncio.run(requests())
    assert "http_request" not in written_during_the_turn[0]
    assert [entry["n"] for entry in lines(output) if entry["event"] == "http_request"] == [0, 1, 2]


def test_nothing_is_written_when_info_is_off_for_the_logger(output: io.StringIO) -> None:
    logging.getLogger("gateway.quiet").setLevel(logging.WARNING)
    try:
        HotLine("gateway.quiet").info("http_request", **FIELDS)
    finally:
        logging.getLogger("gateway.quiet").setLevel(logging.NOTSET)
    assert not any(entry["logger"] == "gateway.quiet" for entry in lines(output))


def test_a_failed_write_is_reported_on_stderr_and_not_raised(
    output: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    output.close()  # every write to stdout now raises
    HotLine("gateway.access").info("http_request", **FIELDS)
    assert "gateway.access: lines lost" in capsys.readouterr().err
