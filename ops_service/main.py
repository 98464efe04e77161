"""ops_service app: ``create_app()`` wires the parts; ``python -m ops_service`` serves it."""

from __future__ import annotations

import functools
from datetime import timedelta

from fastapi import FastAPI

from ops_service.adapters.inbox_api import InboxApi
from ops_service.adapters.kafka_log import KafkaLog, KafkaLogLimits
from ops_service.adapters.kafka_reading import ReadBounds
from ops_service.adapters.order_api import OrderApi
from ops_service.adapters.repository import SqlOpsUnitOfWork
from ops_service.api.errors import ERROR_STATUSES
from ops_service.api.routes import router
from ops_service.application.service import OpsService
from ops_service.settings import OpsSettings
from servicekit.messaging.unit_of_work import transaction
from servicekit.runtime import ServiceRuntime
from servicekit.service_app import create_service_app
from servicekit.settings import KafkaSettings


def create_app(settings: OpsSettings | None = None, kafka: KafkaSettings | None = None) -> FastAPI:
    """The operators' service."""
    settings = settings or OpsSettings()
    kafka = kafka or KafkaSettings()

    def start(runtime: ServiceRuntime) -> None:
        limits = KafkaLogLimits(
            timeout_seconds=settings.kafka_timeout_seconds,
            trace=ReadBounds(
                max_kept=settings.trace_max_messages,
                max_scanned=settings.trace_max_scanned_messages,
                seconds=settings.trace_timeout_seconds,
            ),
            dlq_per_partition=settings.dlq_max_letters_per_partition,
            dlq_seconds=settings.dlq_read_timeout_seconds,
            replay_seconds=settings.replay_timeout_seconds,
        )
        runtime.extras["ops"] = OpsService(
            functools.partial(transaction, runtime.database.sessions, SqlOpsUnitOfWork),
            orders=OrderApi(runtime.discovery, timeout=settings.service_timeout_seconds),
            messages=KafkaLog(kafka, limits),
            inboxes=InboxApi(
                runtime.discovery,
                services=settings.inbox_services,
                timeout=settings.service_timeout_seconds,
            ),
            trace_start_margin=timedelta(seconds=settings.trace_start_margin_seconds),
        )

    return create_service_app(
        name="ops-service",
        title="ops_service",
        settings=settings,
        routers=[router],
        error_statuses=ERROR_STATUSES,
        on_startup=start,
        kafka=kafka,
        discovers=True,  # reads order_service and every service's inbox
    )
