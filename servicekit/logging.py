"""The one logging setup: one JSON object per line on stdout, for structlog and stdlib loggers
(uvicorn, alembic, kafka clients) alike, with the service name on every line."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import orjson
import structlog

_configured = False


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
    global _configured  # noqa: PLW0603 - logging is process-global by nature
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
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
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # httpx logs every request at INFO: the Eureka heartbeat and registry fetch every few
    # seconds would drown what matters. Their failures still surface through our own warnings.
    # Our request middleware logs each request once, with its ids; uvicorn's access line is a
    # second, poorer copy (and serve() cannot switch it off when the app reconfigures logging).
    for name in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.WARNING)
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


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; before configure_logging it still prints, just not as JSON."""
    return structlog.get_logger(name)
