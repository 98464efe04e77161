"""SMS sink settings, env prefix ``SMS_SINK_``; its API key is ``SMS_API_KEY``, the name the
sending side (notification_service) reads too."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from servicekit.settings import HttpServiceSettings


class SmsSinkSettings(HttpServiceSettings):
    """Where the sink listens, whom it lets in, and where it keeps the messages.

    It has no database: the fields of HttpServiceSettings about one are unused.
    """

    model_config = SettingsConfigDict(
        env_prefix="SMS_SINK_", env_file=".env", extra="ignore", populate_by_name=True
    )

    port: int = 8202
    api_key: SecretStr = Field(
        default=SecretStr("local-sms-api-key"),
        min_length=1,
        validation_alias=AliasChoices("SMS_API_KEY"),
    )
    # One JSON object per line, appended and fsynced before a message is acknowledged.
    store_path: Path = Path("var/sms/messages.jsonl")
