"""Settings every process shares: values come from the environment (and `.env`), never from
scattered `os.environ` reads. HTTP services extend servicekit.service_app.HttpServiceSettings."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from servicekit.discovery import EurekaDiscovery, EurekaRegistration


class KafkaSettings(BaseSettings):
    """Where Kafka is and how we talk to it; shared by the relay and every consumer."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", env_file=".env", extra="ignore")

    bootstrap_servers: str = "localhost:9092"
    # Partitions for topics we create; the key (aggregate id) keeps per-aggregate order.
    topic_partitions: int = Field(default=6, ge=1)
    # Replication factor for topics we create: 1 on a single broker, 3 in production.
    topic_replication_factor: int = Field(default=1, ge=1)
    client_id_prefix: str = "order-platform"
    # How long a producer waits to fill a batch: every saga hop pays it once.
    producer_linger_ms: float = Field(default=1.0, ge=0)
    # A consumer that dies without leaving (kill -9) keeps its partitions this long, then the
    # group hands them to the others: every saga waiting on them stalls that long. Heartbeats
    # come from librdkafka's own thread (never blocked by a handler), so a short timeout does
    # not expel a busy consumer. The broker must allow it (group.min.session.timeout.ms).
    consumer_session_timeout_ms: int = Field(default=6_000, ge=1_000, le=300_000)
    consumer_heartbeat_interval_ms: int = Field(default=1_000, ge=100, le=60_000)
    # Static group membership (group.instance.id = <group>-<this value>) when set: an instance
    # that comes back under the same name within the session timeout gets its partitions back
    # without a rebalance. Unset (dynamic membership) a stopping instance leaves the group at
    # once; a static one does not, so its partitions wait out the session timeout.
    group_instance_id: str = ""

    @model_validator(mode="after")
    def _check_consumer_timing(self) -> KafkaSettings:
        if self.consumer_heartbeat_interval_ms * 3 > self.consumer_session_timeout_ms:
            raise ValueError(
                "KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS must be at most a third of"
                " KAFKA_CONSUMER_SESSION_TIMEOUT_MS"
            )
        return self


class EurekaSettings(BaseSettings):
    """Where Eureka is, the credentials it asks for, and how this instance announces itself."""

    model_config = SettingsConfigDict(env_prefix="EUREKA_", env_file=".env", extra="ignore")

    url: str = "http://127.0.0.1:8761/eureka"
    enabled: bool = True
    # Address other processes reach this instance on (what goes into the registry).
    instance_host: str = "127.0.0.1"
    renewal_interval_seconds: float = Field(default=5.0, gt=0)
    lease_duration_seconds: int = Field(default=15, ge=1)
    registry_refresh_seconds: float = Field(default=2.0, gt=0)
    # Every registry call sends these (HTTP basic); the Eureka server reads the same two names.
    # The defaults are the local ones of .env.example: change both anywhere else.
    username: str = "eureka"
    password: SecretStr = SecretStr("eureka-local-password")

    @model_validator(mode="after")
    def _check_credentials(self) -> EurekaSettings:
        # Discovery needs them as much as registration does (EUREKA_ENABLED only stops the latter).
        if not (self.username and self.password.get_secret_value()):
            raise ValueError("EUREKA_USERNAME and EUREKA_PASSWORD must both be set")
        return self

    def registration(
        self, *, app_name: str, port: int, instance_id: str | None = None
    ) -> EurekaRegistration:
        """This instance's registration under ``app_name``, announced at instance_host:port."""
        return EurekaRegistration(
            self.url,
            app_name=app_name,
            host=self.instance_host,
            port=port,
            instance_id=instance_id,
            renewal_interval=self.renewal_interval_seconds,
            lease_duration=self.lease_duration_seconds,
            username=self.username,
            password=self.password.get_secret_value(),
        )

    def discovery(self) -> EurekaDiscovery:
        """A registry view refreshed every registry_refresh_seconds."""
        return EurekaDiscovery(
            self.url,
            refresh_interval=self.registry_refresh_seconds,
            username=self.username,
            password=self.password.get_secret_value(),
        )


# The auth service's public keys, for every service and the gateway: one fixed address from
# configuration. Never looked up in Eureka: whoever could list an instance there would otherwise
# choose the keys every token is checked against.
JWKS_URL_SETTING = AliasChoices("JWKS_URL", "jwks_url")
DEFAULT_JWKS_URL = "http://127.0.0.1:8101/api/auth/.well-known/jwks.json"


def check_jwks_url(url: str) -> str:
    """Absolute http(s) URLs, comma-separated (one per auth instance, tried in turn), or a
    ValueError naming JWKS_URL."""
    for one in jwks_urls(url) or [""]:
        scheme, _, rest = one.partition("://")
        if scheme not in ("http", "https") or not rest.strip("/"):
            raise ValueError(
                "JWKS_URL must be absolute http(s) URLs of the auth service's JWKS, comma-separated"
            )
    return url


def jwks_urls(url: str) -> list[str]:
    """The addresses a JWKS_URL names, in the order they are tried."""
    return [one.strip() for one in url.split(",") if one.strip()]


class HttpServiceSettings(BaseSettings):
    """Fields of every HTTP service; each service subclasses with its own env prefix."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "postgresql+psycopg2://platform:platform@127.0.0.1:5432/postgres"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    db_pool_size: int = Field(default=10, ge=1)
    # Where the auth service's public keys are: JWKS_URL, shared by every service (no prefix).
    jwks_url: str = Field(default=DEFAULT_JWKS_URL, validation_alias=JWKS_URL_SETTING)
    # Tokens that live longer (exp - iat) are refused whatever their signature. Shared by every
    # service and the gateway (no prefix); at least the auth service's access-token TTL.
    token_max_lifetime_seconds: float = Field(
        default=900,
        gt=0,
        validation_alias=AliasChoices("TOKEN_MAX_LIFETIME_SECONDS", "token_max_lifetime_seconds"),
    )
    # Verified tokens a service remembers until their exp (or a JWKS change), so a client's
    # every call does not pay an RS256 check; 0 turns it off. Shared by every service.
    token_cache_size: int = Field(
        default=10_000,
        ge=0,
        le=1_000_000,
        validation_alias=AliasChoices("SERVICE_TOKEN_CACHE_SIZE", "token_cache_size"),
    )

    @field_validator("jwks_url")
    @classmethod
    def _check_jwks_url(cls, url: str) -> str:
        return check_jwks_url(url)
