"""structlog's lines go straight to the one handler: the same JSON, filtered by the stdlib
logger's level before any processor runs, exceptions rendered, a failed write reported."""

from __future__ import annotations

import io
import logging

import pytest
import structlog

from tests.servicekit.unit.log_output import lines


def test_a_line_carries_its_fields_context_and_service(output: io.StringIO) -> None:
    structlog.contextvars.bind_contextvars(correlation_id="c-1")
    structlog.get_logger("servicekit.messaging.inbox").bind(consumer="order-service").info(
        "event_processed", event_type="stock.committed"
    )
    (line,) = lines(output)[-1:]
    assert line == {
        "consumer": "order-service",
        "event_type": "stock.committed",
        "event": "event_processed",
        "correlation_id": "c-1",
        "level": "info",
        "logger": "servicekit.messaging.inbox",
        "timestamp": line["timestamp"],
        "service": "gateway",
    }


def test_structlog_and_stdlib_lines_share_the_stream(output: io.StringIO) -> None:
    structlog.get_logger("ours").warning("from_structlog")
    logging.getLogger("theirs").warning("from %s", "stdlib")
    ours, theirs = lines(output)[-2:]
    assert (ours["event"], ours["level"], ours["service"]) == (
        "from_structlog",
        "warning",
        "gateway",
    )
    assert (theirs["event"], theirs["level"], theirs["service"]) == (
        "from stdlib",
        "warning",
        "gateway",
    )


def test_levels_below_the_loggers_are_dropped(output: io.StringIO) -> None:
    structlog.get_logger("servicekit.chatty").debug("below_info")  # the root level is INFO
    logging.getLogger("servicekit.quiet").setLevel(logging.WARNING)
    try:
        structlog.get_logger("servicekit.quiet").info("below_warning")
        structlog.get_logger("servicekit.quiet").error("at_error")
    finally:
        logging.getLogger("servicekit.quiet").setLevel(logging.NOTSET)
    events = [line["event"] for line in lines(output)]
    assert "below_info" not in events and "below_warning" not in events
    assert "at_error" in events


def test_an_exception_is_logged_as_an_error_with_its_traceback(output: io.StringIO) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        structlog.get_logger("servicekit.http").exception("unhandled_error")
    (line,) = lines(output)[-1:]
    assert line["level"] == "error"
    assert "ValueError: boom" in str(line["exception"])


def test_a_failed_write_is_reported_on_stderr_and_not_raised(
    output: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    output.close()  # every write to stdout now raises
    structlog.get_logger("servicekit.inbox").info("event_processed")
    assert "servicekit.inbox: a line was lost" in capsys.readouterr().err


def test_a_logger_cached_before_logging_is_configured_again_writes_to_the_new_stream(
    output: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    from servicekit.logging import configure_logging

    log = structlog.get_logger("servicekit.cached")
    log.info("first")  # cached on first use
    again = io.StringIO()
    monkeypatch.setattr("sys.stdout", again)
    configure_logging("gateway")  # as the app's lifespan does after serve() did
    log.info("second")
    assert "second" not in output.getvalue()
    assert [line["event"] for line in lines(again)] == ["second"]
