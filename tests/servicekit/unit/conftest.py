"""Fixtures of the servicekit unit tests."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
import structlog

from servicekit import logging as servicekit_logging
from servicekit.logging import configure_logging


@pytest.fixture
def output(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """What the process writes to stdout once logging is configured as the services do it."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, structlog.get_config())
    saved_module = (servicekit_logging._configured, servicekit_logging._json_setup)
    stream = io.StringIO()
    monkeypatch.setattr("sys.stdout", stream)
    configure_logging("gateway")
    try:
        yield stream
    finally:
        root.handlers[:], level, config = saved
        root.setLevel(level)
        structlog.configure(**config)
        servicekit_logging._configured, servicekit_logging._json_setup = saved_module
        structlog.contextvars.clear_contextvars()
