"""Everything the gateway reads from its environment (prefix ``GATEWAY_``); Eureka's address,
credentials and this instance's announced host come from the shared ``EurekaSettings`` (prefix
``EUREKA_``), and the auth service's keys from ``JWKS_URL``, which every service reads too."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.routes import DEFAULT_ROUTES, validate_routes
from servicekit.settings import DEFAULT_JWKS_URL, JWKS_URL_SETTING, check_jwks_url
from servicekit.tokens import AUDIENCE, ISSUER


class GatewaySettings(BaseSettings):
    """The gateway's settings; defaults are the local ones of ``make up``."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # Processes serving the port (each with its own event loop, pools and registry view; the
    # kernel spreads connections over them, SO_REUSEPORT). 1 runs a single process as before.
    workers: int = Field(default=1, ge=1, le=64)
    # Bind with SO_REUSEPORT, so that several gateways (the HA topology runs two, each supervised
    # on its own) share the port and survive each other's death. Implied by workers > 1.
    reuse_port: bool = False
    log_level: str = "INFO"
    # Access-log lines (never with headers or the query string): "all" requests, "errors"
    # (status >= 400, or retried on another instance), or "off". A line through the stdlib
    # handler costs about a fifth of the gateway's CPU per request (bench/gateway_bench.py);
    # every service behind the gateway also logs each request with the same request and
    # correlation ids, so "errors" is the choice when throughput matters more.
    access_log: Literal["all", "errors", "off"] = "all"

    # Path prefix -> Eureka app name. As JSON in GATEWAY_ROUTES it replaces the whole table.
    routes: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_ROUTES))

    # Every upstream call is bounded: connect, each read and each write, and the wait for a
    # pooled connection. A read that takes longer than read_timeout answers 504.
    upstream_connect_timeout_seconds: float = Field(default=2.0, gt=0)
    upstream_read_timeout_seconds: float = Field(default=15.0, gt=0)
    upstream_write_timeout_seconds: float = Field(default=15.0, gt=0)
    upstream_pool_timeout_seconds: float = Field(default=2.0, gt=0)
    # Per instance: connections in use at once (more requests wait up to the pool timeout),
    # and idle keep-alive connections kept for reuse.
    upstream_max_connections: int = Field(default=512, ge=1)
    upstream_max_keepalive_connections: int = Field(default=128, ge=0)
    # Below uvicorn's 5 s keep-alive on the services, so the gateway drops an idle connection
    # before the service does and never writes a request into a socket being closed.
    upstream_keepalive_expiry_seconds: float = Field(default=4.0, gt=0)

    # Retry policy. A connect failure means the request never left the gateway: any method is
    # tried on the next instance, up to retry_attempts more times. After the connection was
    # made, only idempotent methods, and requests carrying an Idempotency-Key (the service
    # answers a repeat with the first outcome), are retried, and only while nothing of the
    # answer was received and no body was lost.
    retry_attempts: int = Field(default=1, ge=0, le=5)
    # An instance that refused a connection is tried last for this long.
    instance_cooldown_seconds: float = Field(default=5.0, ge=0)

    # Where the auth service's public keys are: JWKS_URL (no prefix), shared with the services.
    jwks_url: str = Field(default=DEFAULT_JWKS_URL, validation_alias=JWKS_URL_SETTING)
    jwks_fetch_timeout_seconds: float = Field(default=3.0, gt=0)
    # A token with an unknown kid refreshes the JWKS, at most once per this interval.
    jwks_min_refresh_seconds: float = Field(default=5.0, ge=0)
    # Keys are also re-read on this period, so a key the auth service withdrew stops working.
    jwks_refresh_seconds: float = Field(default=300.0, gt=0)
    token_issuer: str = ISSUER
    token_audience: str = AUDIENCE
    token_leeway_seconds: float = Field(default=5.0, ge=0)
    # Tokens that live longer (exp - iat) are refused: TOKEN_MAX_LIFETIME_SECONDS, the same
    # limit every service applies.
    token_max_lifetime_seconds: float = Field(
        default=900,
        gt=0,
        validation_alias=AliasChoices(
            "GATEWAY_TOKEN_MAX_LIFETIME_SECONDS",
            "TOKEN_MAX_LIFETIME_SECONDS",
            "token_max_lifetime_seconds",
        ),
    )
    # Sent with every forwarded request, so the auth service believes the X-Forwarded-For the
    # gateway writes (servicekit.forwarding); FORWARDING_SECRET, the auth service's value.
    forwarding_secret: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=AliasChoices(
            "GATEWAY_FORWARDING_SECRET", "FORWARDING_SECRET", "forwarding_secret"
        ),
    )
    # Tokens that verified are remembered (until exp, or until the JWKS changes) so the RS256
    # check runs once per token rather than once per request; 0 turns the cache off.
    token_cache_size: int = Field(default=10_000, ge=0)

    # The services' OpenAPI documents, merged into the gateway's /openapi.json, are fetched
    # again on this period (every 2 s until each service has answered once).
    openapi_refresh_seconds: float = Field(default=60.0, gt=0)

    # What one client may send (gateway/limits.py, enforced on the connection for every path):
    # the request line and headers together (else 431), the body (413: before it is read when
    # Content-Length is larger, the connection cut when a chunked body passes it), deadlines
    # from the first byte of a head to its end and from there to the end of the body (408;
    # trickling bytes do not extend them), and open connections per client address, an IPv6
    # client counted per /64 (429 at accept; 0: no cap, for a gateway behind a load balancer,
    # whose connections all come from a few addresses).
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    max_body_bytes: int = Field(default=1024 * 1024, ge=0)
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    body_timeout_seconds: float = Field(default=30.0, gt=0)
    max_connections_per_client: int = Field(default=256, ge=0)

    # How long SIGTERM waits for in-flight requests (long streams included) before closing.
    shutdown_timeout_seconds: float = Field(default=10.0, gt=0)

    @field_validator("routes")
    @classmethod
    def _check_routes(cls, routes: dict[str, str]) -> dict[str, str]:
        return validate_routes(routes)

    @field_validator("jwks_url")
    @classmethod
    def _check_jwks_url(cls, url: str) -> str:
        return check_jwks_url(url)
