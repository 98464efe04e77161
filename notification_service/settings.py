"""Notification service settings, env prefix ``NOTIFICATION_``."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from servicekit.settings import HttpServiceSettings


class NotificationSettings(HttpServiceSettings):
    """Where the notifications live, the SMTP server and SMS provider, and how patiently
    notifications are retried."""

    model_config = SettingsConfigDict(
        env_prefix="NOTIFICATION_", env_file=".env", extra="ignore", populate_by_name=True
    )

    database_url: str = "postgresql+psycopg2://notification_service:notification_service-local-password@127.0.0.1:5432/notification_service"
    port: int = 8106
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    mail_from: str = "Order Platform <no-reply@order-platform.local>"
    # The SMS provider's API (the SMS sink locally) and its key: the names the sink reads too.
    sms_url: str = Field(
        default="http://127.0.0.1:8202", validation_alias=AliasChoices("SMS_SINK_URL")
    )
    sms_api_key: SecretStr = Field(
        default=SecretStr("local-sms-api-key"),
        min_length=1,
        validation_alias=AliasChoices("SMS_API_KEY"),
    )
    # Each of connecting, sending and reading the answer, per SMS.
    sms_timeout_seconds: float = Field(default=5.0, gt=0)
    # No saga waits on a notification: the consumer group gathers its fetches (the broker holds
    # each this long and answers with every event that came meanwhile), which are then applied
    # in one transaction. 0 fetches every event as soon as it is written, one request each.
    consumer_gather_ms: int = Field(default=200, ge=0, le=5_000)
    # The sender wakes when a consumer commits new mail and when a retry falls due; with nothing
    # due it still looks every sender_idle_poll_seconds (mail queued by another instance). After
    # a pass that sent mail it lets more gather for sender_batch_window_seconds. After a pass the
    # SMTP server cut short, or while due mail is another sender's, it looks again after
    # sender_poll_interval_seconds; an SMTP connection idle that long is closed.
    sender_poll_interval_seconds: float = Field(default=1.0, gt=0)
    sender_idle_poll_seconds: float = Field(default=10.0, gt=0)
    sender_batch_window_seconds: float = Field(default=0.25, ge=0)
    sender_batch_size: int = Field(default=50, ge=1)
    # Each channel's sender (email, SMS) runs on its own with these settings.
    # A pass claims its batch for this long (no other sender takes it meanwhile) and sends with
    # no transaction open; it starts no send after half of it. A sender that dies mid-pass
    # leaves its batch due again when the claim runs out.
    sender_claim_seconds: float = Field(default=120.0, gt=0)
    # A failing provider: retry after 2 s, 4 s, 8 s ... at most retry_max_seconds apart;
    # after max_attempts failures the notification is FAILED (and logged as an error).
    max_attempts: int = Field(default=10, ge=1)
    retry_initial_seconds: float = Field(default=2.0, gt=0)
    retry_max_seconds: float = Field(default=600.0, gt=0)
    # An order's customer whose contact (account or profile event) has not arrived yet: look
    # again this often, for at most contact_wait_seconds, then FAILED.
    contact_retry_seconds: float = Field(default=5.0, gt=0)
    contact_wait_seconds: float = Field(default=86_400.0, gt=0)

    @model_validator(mode="after")
    def _claim_outlasts_a_send(self) -> NotificationSettings:
        # A send started in the first half of a claim must end within it: connecting plus four
        # SMTP exchanges (an SMS: connect, write, read), each bounded by its timeout.
        if self.sender_claim_seconds < 10 * self.smtp_timeout_seconds:
            raise ValueError(
                "NOTIFICATION_SENDER_CLAIM_SECONDS must be at least 10 times "
                "NOTIFICATION_SMTP_TIMEOUT_SECONDS"
            )
        if self.sender_claim_seconds < 10 * self.sms_timeout_seconds:
            raise ValueError(
                "NOTIFICATION_SENDER_CLAIM_SECONDS must be at least 10 times "
                "NOTIFICATION_SMS_TIMEOUT_SECONDS"
            )
        return self
