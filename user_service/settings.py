"""User service settings, env prefix ``USER_``."""

from pydantic_settings import SettingsConfigDict

from servicekit.settings import HttpServiceSettings


class UserSettings(HttpServiceSettings):
    """Where the profiles live."""

    model_config = SettingsConfigDict(env_prefix="USER_", env_file=".env", extra="ignore")

    database_url: str = (
        "postgresql+psycopg2://user_service:user_service-local-password@127.0.0.1:5432/user_service"
    )
    port: int = 8102
