"""Auth service settings, env prefix ``AUTH_``; the admin account from ``ADMIN_EMAIL`` and
``ADMIN_PASSWORD``."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from servicekit.web import HttpServiceSettings


class AuthSettings(HttpServiceSettings):
    """Token lifetimes, password hashing cost, login throttling, the admin account."""

    model_config = SettingsConfigDict(env_prefix="AUTH_", env_file=".env", extra="ignore")

    database_url: str = "postgresql+psycopg2://platform:platform@127.0.0.1:5432/auth_service"
    port: int = 8101
    access_token_ttl_seconds: int = Field(default=900, ge=30)
    refresh_token_ttl_seconds: int = Field(default=14 * 24 * 3600, ge=60)
    # argon2id, OWASP minimum: 19 MiB, 2 passes, 1 lane. Cheaper only in tests.
    argon2_memory_kib: int = Field(default=19_456, ge=8)
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_parallelism: int = Field(default=1, ge=1)
    # Failed logins within the window before 429: per account, and per client address.
    login_window_seconds: int = Field(default=900, ge=1)
    login_max_failures_per_account: int = Field(default=5, ge=1)
    login_max_failures_per_address: int = Field(default=100, ge=1)
    # Peers whose X-Forwarded-For is believed (the gateway); anyone else is the client itself.
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    # How often an instance re-reads the signing keys (another instance may have rotated them).
    key_reload_seconds: float = Field(default=60.0, gt=0)
    admin_email: str = Field(
        default="admin@example.com",
        validation_alias=AliasChoices("ADMIN_EMAIL", "AUTH_ADMIN_EMAIL"),
    )
    admin_password: SecretStr = Field(
        default=SecretStr("Admin-password-1"),
        validation_alias=AliasChoices("ADMIN_PASSWORD", "AUTH_ADMIN_PASSWORD"),
    )
