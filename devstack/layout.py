"""Where everything lives and listens on a local machine: the one table the stack is built from."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("DEVSTACK_VAR", REPO / "var")).resolve()
LOG_DIR = VAR / "log"
RUN_DIR = VAR / "run"
PGDATA = VAR / "pgdata"
PG_SOCKET_DIR = VAR / "pgsocket"
# PostgreSQL runs as the 'postgres' user. When a checkout sits below a folder that user cannot
# enter (a private home or temp dir), its data goes to PostgreSQL's own home instead, one folder
# per checkout: postgres.ensure_cluster() switches to this.
PG_FALLBACK_HOME = (
    Path("/var/lib/postgresql/order-platform")
    / hashlib.sha1(str(REPO).encode(), usedforsecurity=False).hexdigest()[:12]
)
SUPERVISOR_CONF = VAR / "supervisord.conf"
SUPERVISOR_SOCK = RUN_DIR / "supervisor.sock"
PYTHON = REPO / ".venv" / "bin" / "python"
INFRA_BIN = REPO / "infra" / "bin"

PG_HOST = "127.0.0.1"
PG_PORT = int(os.environ.get("POSTGRES_PORT", "5432"))
# The bootstrap superuser: devstack creates the roles and databases with it (and the tests their
# throw-away databases); no platform process connects as it (Role below).
PG_USER = os.environ.get("POSTGRES_USER", "platform")
PG_PASSWORD = os.environ.get("POSTGRES_PASSWORD", "platform")
KAFKA_BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092")
EUREKA_URL = os.environ.get("EUREKA_URL", "http://127.0.0.1:8761/eureka")
# What every registry client sends, and what the Eureka server accepts (the same two settings).
EUREKA_USERNAME = os.environ.get("EUREKA_USERNAME", "eureka")
EUREKA_PASSWORD = os.environ.get("EUREKA_PASSWORD", "eureka-local-password")
RELAY_HTTP_PORT = int(os.environ.get("RELAY_HTTP_PORT", "8190"))
# Secrets with local defaults for `make up` only (.env.example marks them must-change): the key
# that encrypts the auth service's signing keys, and the secret the gateway proves itself with
# to the auth service (whose X-Forwarded-For is believed only then).
KEY_ENCRYPTION_KEY = os.environ.get(
    "AUTH_KEY_ENCRYPTION_KEY", "asiBT1nPRiC3LBQd2myu910UiixzmN2ihrvHgQIE9Y0="
)
FORWARDING_SECRET = os.environ.get("FORWARDING_SECRET", "local-forwarding-secret-change-me")
GATEWAY_PORT = int(os.environ.get("GATEWAY_PORT", "8080"))
# The SMTP mail sink (aiosmtpd): every message lands in a Maildir under var/mail.
MAILSINK_PORT = 1025
MAIL_DIR = VAR / "mail"
# Stand-ins for outside providers, not platform services (no Eureka, no outbox): the pix payment
# provider with a database of its own, and the SMS sink, which keeps messages under var/sms.
PAYMENT_PROVIDER_PORT = 8201
PAYMENT_PROVIDER_DATABASE = "payment_provider"
SMS_SINK_PORT = 8202
SMS_DIR = VAR / "sms"
# Monitoring around the local Prometheus: the broker's JMX exporter (a java agent inside Kafka,
# infra/bin/run-kafka.sh), the PostgreSQL exporter and Alertmanager (Debian packages), each on
# loopback. Alertmanager's usual 9093 is Kafka's controller port here.
KAFKA_JMX_EXPORTER_PORT = int(os.environ.get("KAFKA_JMX_EXPORTER_PORT", "9404"))
# How long `make up` exercises a broker it has just started, before the services (0: not at all;
# devstack/kafka_warmup.py says why).
KAFKA_WARMUP_SECONDS = float(os.environ.get("KAFKA_WARMUP_SECONDS", "20"))
POSTGRES_EXPORTER_PORT = 9187
ALERTMANAGER_PORT = 9094


@dataclass(frozen=True)
class Role:
    """A PostgreSQL login role a platform process connects as: never a superuser, never able to
    create databases or roles (devstack.postgres.ensure_roles)."""

    name: str
    password_setting: str  # the environment variable with its password

    @property
    def password(self) -> str:
        """The password from its setting; the local default is for `make up` only."""
        return os.environ.get(self.password_setting, f"{self.name}-local-password")


@dataclass(frozen=True)
class Service:
    """A platform service: its package, database and HTTP port."""

    package: str
    database: str
    port: int

    @property
    def name(self) -> str:
        """Short name: ``order`` for order_service."""
        return self.package.removesuffix("_service")

    @property
    def health_url(self) -> str:
        """Where the service says whether it is ready."""
        return f"http://127.0.0.1:{self.port}/health"

    @property
    def env_prefix(self) -> str:
        """Settings prefix: ``ORDER`` for order_service."""
        return self.name.upper()

    @property
    def role(self) -> Role:
        """The role that owns the service's database, named after it; ORDER_DB_PASSWORD."""
        return Role(self.database, f"{self.env_prefix}_DB_PASSWORD")


SERVICES = (
    Service("auth_service", "auth_service", 8101),
    Service("user_service", "user_service", 8102),
    Service("product_service", "product_service", 8103),
    Service("order_service", "order_service", 8104),
    Service("payment_service", "payment_service", 8105),
    Service("notification_service", "notification_service", 8106),
    # The operators' API: it publishes no events, so its outbox (every service has one) stays empty.
    Service("ops_service", "ops_service", 8107),
)

# The relay reads and trims every service's outbox, and nothing else (devstack.postgres).
RELAY_ROLE = Role("outbox_relay", "RELAY_DB_PASSWORD")
# The payment provider owns its database the same way (no outbox: the relay never goes there).
PAYMENT_PROVIDER_ROLE = Role(PAYMENT_PROVIDER_DATABASE, "PROVIDER_DB_PASSWORD")
# The PostgreSQL exporter reads the server's statistics as this role: a member of pg_monitor,
# which may read the statistics views and nothing in any database (devstack.postgres).
MONITORING_ROLE = Role("monitoring", "MONITORING_DB_PASSWORD")

# Where every service and the gateway fetch the auth service's public keys: a fixed address,
# never one found in Eureka.
JWKS_URL = os.environ.get(
    "JWKS_URL", f"http://127.0.0.1:{SERVICES[0].port}/api/auth/.well-known/jwks.json"
)


def owner_of(database: str) -> Role | None:
    """The role that owns a service database (or the payment provider's); None for any other
    (postgres, test databases)."""
    if database == PAYMENT_PROVIDER_DATABASE:
        return PAYMENT_PROVIDER_ROLE
    return next((s.role for s in SERVICES if s.database == database), None)


def _url(user: str, password: str, database: str, driver: str, *, socket: bool = False) -> str:
    credentials = f"{quote(user, safe='')}:{quote(password, safe='')}"
    if socket:
        # libpq takes a directory as host: the server's Unix socket in it, for this port.
        return f"{driver}://{credentials}@/{database}?host={PG_SOCKET_DIR}&port={PG_PORT}"
    return f"{driver}://{credentials}@{PG_HOST}:{PG_PORT}/{database}"


def role_url(role: Role, database: str, *, driver: str = "postgresql", socket: bool = False) -> str:
    """URL of one local database as ``role``; ``socket``: through the server's Unix socket
    instead of TCP on loopback (see database_url)."""
    return _url(role.name, role.password, database, driver, socket=socket)


def admin_url(database: str, *, driver: str = "postgresql") -> str:
    """URL of one local database as the bootstrap superuser: creating roles and databases only."""
    return _url(PG_USER, PG_PASSWORD, database, driver)


def database_url(
    database: str, *, driver: str = "postgresql+psycopg2", socket: bool = False
) -> str:
    """SQLAlchemy URL of one local database as its owner: a service database as the service's
    role, any other (postgres, the tests' throw-away databases) as the bootstrap superuser.

    ``socket``: through the server's Unix socket, as the processes `make up` runs connect (the
    database is on the same machine). A round trip over the socket cost the server 8-12 us
    and the client 2-11 us less than over TCP on loopback (psycopg2 ``SELECT 1``, 20,000
    each, 2-core machine), and a saga step is several round trips. Call
    postgres.choose_data_dir() first: it decides where the socket lives."""
    role = owner_of(database)
    if role is None:
        return _url(PG_USER, PG_PASSWORD, database, driver, socket=socket)
    return role_url(role, database, driver=driver, socket=socket)


def libpq_url(database: str) -> str:
    """libpq URL (psycopg2.connect) of one local database, as its owner (database_url)."""
    return database_url(database, driver="postgresql")


def relay_url(database: str, *, socket: bool = False) -> str:
    """libpq URL the outbox relay reads a service database with (``socket``: see database_url)."""
    return role_url(RELAY_ROLE, database, socket=socket)
