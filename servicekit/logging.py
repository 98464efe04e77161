"""The one logging setup: one JSON object per line on stdout, for structlog and stdlib loggers
(uvicorn, alembic, kafka clients) alike, with the service name on every line."""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import sys
from typing import Any

import orjson
import structlog

_configured = False
# What HotLine needs of configure_logging's set-up: the handler every line goes through (its
# stream and lock), the service name and the timestamper; None until JSON logging is configured.
_json_setup: tuple[logging.StreamHandler[Any], str, structlog.processors.TimeStamper] | None = None


def _orjson_dumps(obj: Any, **_: Any) -> str:
    # orjson is several times faster than json.dumps; a log line costs about as much CPU as the
    # request it describes on the gateway's hot path (bench/gateway_bench.py).
    return orjson.dumps(obj, default=str).decode()


def _add_service(service: str) -> structlog.types.Processor:
    def processor(_: Any, __: str, event_dict: structlog.types.EventDict) -> Any:
        event_dict.setdefault("service", service)
        return event_dict

    return processor


def configure_logging(service: str, *, level: str = "INFO", json: bool = True) -> None:
    """Route structlog and stdlib logging through one JSON renderer; safe to call twice."""
    global _configured, _json_setup  # noqa: PLW0603 - logging is process-global by nature
    stamper = structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp")
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        stamper,
        _add_service(service),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        if json
        else structlog.dev.ConsoleRenderer()
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    # Our lines carry no source file, line, thread or process fields, so the stdlib need not
    # look them up for every record: finding the caller walks the stack, and the three others
    # cost a call each. Together they were about a fifth of a log line's cost, and a consumer
    # logs a line per event it applies.
    logging._srcfile = None  # the documented switch for the caller lookup
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    _json_setup = (handler, service, stamper) if json else None
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # httpx logs every request at INFO: the Eureka heartbeat and registry fetch every few
    # seconds would drown what matters. Their failures still surface through our own warnings.
    # Our request middleware logs each request once, with its ids; uvicorn's access line is a
    # second, poorer copy (and serve() cannot switch it off when the app reconfigures logging).
    for name in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if json:
        # Our own lines skip the stdlib's per-record machinery (a LogRecord, the handler chain, a
        # formatter that runs the processors again): filtered by level first, rendered once,
        # written through the same handler under its lock. A consumer's line cost 15.6 us through
        # the stdlib and 7.9-8.1 us this way; a debug line below the level 5.7 and 2.6 us (one
        # process, 50,000 lines). The stdlib's own loggers (uvicorn, alembic) keep the chain.
        structlog.configure(
            processors=[
                _filter_by_level,
                structlog.stdlib.PositionalArgumentsFormatter(),
                *shared,
                structlog.processors.format_exc_info,
                renderer,
            ],
            logger_factory=_line_logger,
            wrapper_class=structlog.stdlib.BoundLogger,
            cache_logger_on_first_use=True,
        )
    else:
        structlog.configure(
            processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            cache_logger_on_first_use=True,
        )
    if not _configured:
        # The first line of every process run: where an operator's reading of a log starts.
        structlog.get_logger("servicekit").info(
            "process_started", pid=os.getpid(), argv=" ".join(sys.argv)[:200]
        )
    _configured = True


def _write_locked(handler: logging.StreamHandler[Any], text: str, lost: str) -> None:
    """Write ``text`` to the handler's stream (its lock held by the caller); a failed write is
    reported on stderr as logging.Handler.emit reports one, never raised into the caller."""
    try:
        handler.stream.write(text)
        handler.flush()
    except Exception:  # noqa: BLE001 - as logging.Handler.emit does: report, never raise
        handler.handleError(logging.makeLogRecord({"msg": lost}))


_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}


def _filter_by_level(
    logger: _LineLogger, method_name: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    """Drop a line its stdlib logger's level would drop, before any other processor runs."""
    if logger.enabled_for(_LEVELS.get(method_name, logging.INFO)):
        return event_dict
    raise structlog.DropEvent


class _LineLogger:
    """The end of a structlog logger's pipeline: its rendered line, written through the handler
    configure_logging installed last (its stream, lock and error reporting), filtered by the
    stdlib logger's level. The handler is looked up per line, not kept: structlog caches a
    logger on first use, and a logger cached before logging was configured again (the app's
    lifespan does; so do tests) must not write to the old handler's stream or under its lock."""

    __slots__ = ("_stdlib", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._stdlib = logging.getLogger(name)

    def enabled_for(self, level: int) -> bool:
        return not self._stdlib.disabled and self._stdlib.isEnabledFor(level)

    def write(self, line: str) -> None:
        setup = _json_setup
        if setup is None:  # configured again since, without JSON: the stdlib's handlers
            self._stdlib.log(logging.INFO, line)
            return
        handler = setup[0]
        handler.acquire()
        try:
            _write_locked(handler, line + "\n", f"{self.name}: a line was lost")
        finally:
            handler.release()

    debug = info = warning = warn = error = exception = critical = fatal = msg = write


def _line_logger(*args: Any) -> _LineLogger:
    """structlog's logger factory: it passes the name given to get_logger, if any."""
    return _LineLogger(args[0] if args and args[0] else "root")


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; before configure_logging it still prints, just not as JSON."""
    return structlog.get_logger(name)


class HotLine:
    """A logger for one line written for nearly every request (the gateway's access line).

    The same JSON object as a structlog logger of that name writes (the fields, the event, the
    context's ids, level, logger, timestamp, service), rendered once by orjson, without
    structlog's and the stdlib's per-record machinery (a bound logger, a LogRecord, a formatter
    that runs the processors again). Called on an event loop, the lines of one turn of the loop
    are written together at its end, in one write through the handler under its lock (and at
    exit whatever is left); elsewhere each line is written at once. Before configure_logging (or
    with its console renderer) it is an ordinary structlog logger.

    A line can therefore follow one logged after it in the same turn (the timestamps keep the
    order), and a ``kill -9`` loses at most the turn's lines. A failed write is reported as the
    stdlib handler reports one (on stderr) and never raised into the request.

    Why: the gateway served 6,220-6,260 requests/s with its access line through that machinery
    and 8,150-8,500 without the line (bench/gateway_bench.py); the line cost more than the
    proxying.
    """

    __slots__ = ("_fallback", "_logger", "_pending", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._logger = logging.getLogger(name)
        self._fallback = structlog.get_logger(name)
        self._pending: list[str] = []
        atexit.register(self.flush)

    def info(self, event: str, **fields: Any) -> None:
        """Write ``fields`` and ``event`` as one INFO line, if INFO is enabled for this logger."""
        setup = _json_setup
        if setup is None:
            self._fallback.info(event, **fields)
            return
        if not self._logger.isEnabledFor(logging.INFO):
            return
        handler, service, stamper = setup
        fields["event"] = event
        structlog.contextvars.merge_contextvars(None, "info", fields)
        fields["level"] = "info"
        fields["logger"] = self.name
        stamper(None, "info", fields)
        fields.setdefault("service", service)
        line = orjson.dumps(fields, default=str).decode()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        handler.acquire()
        try:
            first = not self._pending
            self._pending.append(line)
        finally:
            handler.release()
        if loop is None:
            self.flush()
        elif first:
            loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write the lines not written yet, in the order they were logged."""
        setup = _json_setup
        if setup is None or not self._pending:
            return
        handler = setup[0]
        handler.acquire()
        try:
            lines, self._pending = self._pending, []
            if lines:
                _write_locked(handler, "\n".join(lines) + "\n", f"{self.name}: lines lost")
        finally:
            handler.release()
