"""notification_service app: ``create_app()`` only; ``python -m notification_service`` serves it."""

from __future__ import annotations

import threading

from fastapi import FastAPI

from notification_service.adapters.repository import on_mail_queued
from notification_service.adapters.smtp import SmtpMailer
from notification_service.api.routes import router
from notification_service.application.sender import NotificationSender, SenderPolicy
from notification_service.consumers import build_consumers
from notification_service.settings import NotificationSettings
from servicekit.web import ServiceRuntime, create_service_app


def create_app(settings: NotificationSettings | None = None) -> FastAPI:
    """The notification service: consumers record notifications, a sender thread mails them."""
    settings = settings or NotificationSettings()

    def send_notifications(runtime: ServiceRuntime, stop: threading.Event) -> None:
        """Deliver due notifications over SMTP until shutdown."""
        sender = NotificationSender(
            runtime.database.sessions,
            lambda: SmtpMailer(
                host=settings.smtp_host,
                port=settings.smtp_port,
                timeout=settings.smtp_timeout_seconds,
                mail_from=settings.mail_from,
            ),
            SenderPolicy(
                batch_size=settings.sender_batch_size,
                poll_interval=settings.sender_poll_interval_seconds,
                idle_poll=settings.sender_idle_poll_seconds,
                batch_window=settings.sender_batch_window_seconds,
                max_attempts=settings.max_attempts,
                retry_initial=settings.retry_initial_seconds,
                retry_max=settings.retry_max_seconds,
                contact_retry=settings.contact_retry_seconds,
                contact_wait=settings.contact_wait_seconds,
            ),
        )
        # Before the first pass: mail committed from now on wakes the sender at once.
        on_mail_queued(runtime.database.sessions, sender.wake)
        sender.run(stop)

    return create_service_app(
        name="notification-service",
        title="notification_service",
        settings=settings,
        routers=[router],
        consumers=build_consumers,
        workers=[send_notifications],
    )
