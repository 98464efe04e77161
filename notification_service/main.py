"""notification_service app: ``create_app()`` wires the parts; ``python -m notification_service``
serves it."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

from fastapi import FastAPI

from notification_service.adapters.repository import SqlNotificationUnitOfWork, on_mail_queued
from notification_service.adapters.sms import SmsSender
from notification_service.adapters.smtp import SmtpMailer
from notification_service.api.routes import router
from notification_service.application.ports import Transport
from notification_service.application.sender import NotificationSender, SenderPolicy
from notification_service.consumers import SUBSCRIPTIONS
from notification_service.domain.delivery import RetryPolicy
from notification_service.domain.model import Channel
from notification_service.settings import NotificationSettings
from servicekit.messaging.unit_of_work import transaction
from servicekit.runtime import ServiceRuntime
from servicekit.service_app import Worker, create_service_app


def create_app(settings: NotificationSettings | None = None) -> FastAPI:
    """The notification service: consumers record notifications, one sender thread per
    channel delivers them (email over SMTP, SMS through the provider's API)."""
    settings = settings or NotificationSettings()
    policy = SenderPolicy(
        batch_size=settings.sender_batch_size,
        poll_interval=settings.sender_poll_interval_seconds,
        idle_poll=settings.sender_idle_poll_seconds,
        batch_window=settings.sender_batch_window_seconds,
        claim_seconds=settings.sender_claim_seconds,
        retry=RetryPolicy(
            max_attempts=settings.max_attempts,
            retry_initial=settings.retry_initial_seconds,
            retry_max=settings.retry_max_seconds,
            contact_retry=settings.contact_retry_seconds,
            contact_wait=settings.contact_wait_seconds,
        ),
    )
    transports: dict[Channel, Callable[[], Transport]] = {
        Channel.EMAIL: lambda: SmtpMailer(
            host=settings.smtp_host,
            port=settings.smtp_port,
            timeout=settings.smtp_timeout_seconds,
            mail_from=settings.mail_from,
        ),
        Channel.SMS: lambda: SmsSender(
            base_url=settings.sms_url,
            api_key=settings.sms_api_key.get_secret_value(),
            timeout=settings.sms_timeout_seconds,
        ),
    }

    def sender_of(channel: Channel) -> Worker:
        def send_notifications(runtime: ServiceRuntime, stop: threading.Event) -> None:
            """Deliver the channel's due notifications until shutdown."""
            sessions = runtime.database.sessions
            sender = NotificationSender(
                functools.partial(transaction, sessions, SqlNotificationUnitOfWork),
                transports[channel],
                policy,
                channel=channel,
            )

            def wake_on(channels: frozenset[Channel]) -> None:
                if channel in channels:
                    sender.wake()

            # Before the first pass: what is committed from now on wakes the sender at once.
            on_mail_queued(sessions, wake_on)
            sender.run(stop)

        # The thread is worker-<name>: the email one keeps the name it had before SMS came.
        send_notifications.__name__ = (
            "send_notifications" if channel is Channel.EMAIL else f"send_{channel.value}"
        )
        return send_notifications

    return create_service_app(
        name="notification-service",
        title="notification_service",
        settings=settings,
        routers=[router],
        subscriptions=SUBSCRIPTIONS.gathering(settings.consumer_gather_ms),
        workers=[sender_of(channel) for channel in transports],
    )
