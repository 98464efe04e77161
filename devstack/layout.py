"""Where everything lives and listens on a local machine: the one table the stack is built from."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

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
PG_USER = os.environ.get("POSTGRES_USER", "platform")
PG_PASSWORD = os.environ.get("POSTGRES_PASSWORD", "platform")
KAFKA_BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092")
EUREKA_URL = os.environ.get("EUREKA_URL", "http://127.0.0.1:8761/eureka")
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


SERVICES = (
    Service("auth_service", "auth_service", 8101),
    Service("user_service", "user_service", 8102),
    Service("product_service", "product_service", 8103),
    Service("order_service", "order_service", 8104),
    Service("payment_service", "payment_service", 8105),
    Service("notification_service", "notification_service", 8106),
)

# The topics of the event catalog (ARCHITECTURE.md), each with its dead-letter topic.
AGGREGATE_TYPES = ("account", "product", "order", "stock_reservation", "payment")


def database_url(database: str, *, driver: str = "postgresql+psycopg2") -> str:
    """SQLAlchemy URL of one local database."""
    return f"{driver}://{PG_USER}:{PG_PASSWORD}@{PG_HOST}:{PG_PORT}/{database}"


def libpq_url(database: str) -> str:
    """libpq URL (psycopg2.connect) of one local database."""
    return database_url(database, driver="postgresql")
