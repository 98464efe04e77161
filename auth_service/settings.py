"""Auth service settings, env prefix ``AUTH_``; the admin account from ``ADMIN_EMAIL`` and
``ADMIN_PASSWORD``, the secret shared with the gateway from ``FORWARDING_SECRET``."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network
from typing import Self

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from servicekit.settings import HttpServiceSettings


def _loopback() -> list[IPv4Network | IPv6Network]:
    # Where the gateway of `make up` connects from.
    return [IPv4Network("127.0.0.1/32"), IPv6Network("::1/128")]


class AuthSettings(HttpServiceSettings):
    """Token lifetimes, password hashing cost, login and guest throttling, keys, the admin
    account."""

    model_config = SettingsConfigDict(env_prefix="AUTH_", env_file=".env", extra="ignore")

    database_url: str = (
        "postgresql+psycopg2://auth_service:auth_service-local-password@127.0.0.1:5432/auth_service"
    )
    port: int = 8101
    access_token_ttl_seconds: int = Field(default=900, ge=30)
    refresh_token_ttl_seconds: int = Field(default=14 * 24 * 3600, ge=60)
    # argon2id, OWASP minimum: 19 MiB, 2 passes, 1 lane. Cheaper only in tests.
    argon2_memory_kib: int = Field(default=19_456, ge=8)
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_parallelism: int = Field(default=1, ge=1)

    # Login throttling (README, "Login throttling"). Per account: this many failures are free
    # within the window, then each further failure locks the account out for base, 2 x base,
    # 4 x base ... seconds, at most login_lockout_max_seconds. Addresses the account has logged
    # in from have a schedule of their own, so nobody elsewhere can lock the owner out there.
    login_window_seconds: int = Field(default=900, ge=1)
    login_max_failures_per_account: int = Field(default=5, ge=1)
    login_lockout_base_seconds: float = Field(default=1.0, gt=0)
    login_lockout_max_seconds: float = Field(default=300.0, gt=0)
    login_known_address_days: int = Field(default=30, ge=1)
    # Per client address: at most this many failures per window (any accounts), as a bucket
    # that forgives one failure every window / max seconds.
    login_max_failures_per_address: int = Field(default=100, ge=1)
    # How often stale throttle rows are deleted.
    login_throttle_purge_seconds: float = Field(default=60.0, gt=0)

    # Guests (POST /api/auth/guest) per client address: at most this many per window, as a
    # bucket that forgives one every window / max seconds (a kiosk makes one per customer).
    guest_max_per_address: int = Field(default=60, ge=1)
    guest_window_seconds: int = Field(default=600, ge=1)

    # Peers whose X-Forwarded-For is believed: they must be in this list (addresses or CIDRs,
    # JSON) AND present the forwarding secret the gateway adds. Without a secret nobody is
    # believed: on loopback every local process shares the gateway's address.
    trusted_proxies: list[IPv4Network | IPv6Network] = Field(default_factory=_loopback)
    forwarding_secret: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=AliasChoices(
            "AUTH_FORWARDING_SECRET", "FORWARDING_SECRET", "forwarding_secret"
        ),
    )

    # Fernet keys (comma-separated, newest first) that encrypt the RS256 private keys at rest;
    # required: the service refuses to start without one. Older keys only decrypt, until
    # `python -m auth_service rotate-kek` has re-encrypted everything under the newest.
    key_encryption_key: SecretStr = SecretStr("")
    # How often an instance re-reads the signing keys (another instance may have rotated them).
    key_reload_seconds: float = Field(default=60.0, gt=0)
    admin_email: str = Field(
        default="admin@example.com",
        validation_alias=AliasChoices("ADMIN_EMAIL", "AUTH_ADMIN_EMAIL", "admin_email"),
    )
    admin_password: SecretStr = Field(
        default=SecretStr("Admin-password-1"),
        validation_alias=AliasChoices("ADMIN_PASSWORD", "AUTH_ADMIN_PASSWORD", "admin_password"),
    )

    @model_validator(mode="after")
    def _tokens_outlive_no_verifier(self) -> Self:
        # Every verifier refuses a token that lives longer than TOKEN_MAX_LIFETIME_SECONDS:
        # issuing longer ones would make every login useless, so refuse to start instead.
        if self.access_token_ttl_seconds > self.token_max_lifetime_seconds:
            raise ValueError(
                "AUTH_ACCESS_TOKEN_TTL_SECONDS is longer than TOKEN_MAX_LIFETIME_SECONDS: every"
                " service would refuse the tokens issued"
            )
        if self.login_lockout_base_seconds > self.login_lockout_max_seconds:
            raise ValueError(
                "AUTH_LOGIN_LOCKOUT_BASE_SECONDS exceeds AUTH_LOGIN_LOCKOUT_MAX_SECONDS"
            )
        return self
