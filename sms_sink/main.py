"""sms_sink app: ``create_app()`` only; ``python -m sms_sink`` serves it.

Like the mail sink is for SMTP: an SMS provider's HTTP API (``POST /messages`` with a bearer key
and an ``Idempotency-Key``) that keeps every message, and ``GET /messages`` to see them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from servicekit.http import RequestContextMiddleware, install_error_handlers
from servicekit.logging import configure_logging, get_logger
from sms_sink.api import router
from sms_sink.settings import SmsSinkSettings
from sms_sink.store import MessageStore

log = get_logger(__name__)


def create_app(settings: SmsSinkSettings | None = None) -> FastAPI:
    """The SMS sink."""
    settings = settings or SmsSinkSettings()
    store = MessageStore(settings.store_path)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        configure_logging("sms-sink", level=settings.log_level)
        count = await asyncio.to_thread(store.open)
        log.info("sms_sink_started", port=settings.port, messages=count)
        try:
            yield
        finally:
            store.close()
            log.info("sms_sink_stopped")

    app = FastAPI(title="sms_sink", lifespan=lifespan)
    app.state.store = store
    app.state.api_key = settings.api_key
    app.add_middleware(RequestContextMiddleware, service="sms-sink")
    install_error_handlers(app)
    app.include_router(router)
    return app
