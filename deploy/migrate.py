"""``python deploy/migrate.py``: the one-shot `migrate` service of docker-compose.yml.

Gives every service its own role owning its database (and the relay its role), brings every
service's database to its Alembic head as that role, then creates the event catalog's topics with
their dead-letter topics: what `make up` does after starting the engines (devstack.cli.migrate and
create_topics), except that the bootstrap superuser is reached at ``POSTGRES_HOST`` and each
service's URL comes from its own settings class (``<PREFIX>_DATABASE_URL``).
"""

from __future__ import annotations

import psycopg2
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from auth_service.settings import AuthSettings
from devstack import postgres
from devstack.cli import create_topics
from devstack.layout import (
    MONITORING_ROLE,
    PAYMENT_PROVIDER_DATABASE,
    PAYMENT_PROVIDER_ROLE,
    RELAY_ROLE,
    SERVICES,
)
from notification_service.settings import NotificationSettings
from ops_service.settings import OpsSettings
from order_service.settings import OrderSettings
from payment_provider.settings import ProviderSettings
from payment_service.settings import PaymentSettings
from product_service.settings import ProductSettings
from servicekit.migrations import upgrade
from servicekit.settings import HttpServiceSettings
from user_service.settings import UserSettings

SETTINGS: dict[str, type[HttpServiceSettings]] = {
    "auth_service": AuthSettings,
    "user_service": UserSettings,
    "product_service": ProductSettings,
    "order_service": OrderSettings,
    "payment_service": PaymentSettings,
    "notification_service": NotificationSettings,
    "ops_service": OpsSettings,
}


class BootstrapSettings(BaseSettings):
    """The superuser that creates the roles and databases: this container's alone."""

    model_config = SettingsConfigDict(env_prefix="POSTGRES_", env_file=".env", extra="ignore")

    host: str = "postgres"
    port: int = 5432
    user: str = "platform"
    password: SecretStr = SecretStr("platform")

    def connect(self, database: str) -> psycopg2.extensions.connection:
        """An autocommit superuser connection to ``database``."""
        conn = psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password.get_secret_value(),
            dbname=database,
            connect_timeout=5,
        )
        conn.autocommit = True
        return conn


def main() -> None:
    """Provision the roles, migrate every service database as its role, then create the topics;
    safe to run again."""
    bootstrap = BootstrapSettings()
    databases = [service.database for service in SERVICES]
    postgres.ensure_roles(
        {service.database: service.role for service in SERVICES}, RELAY_ROLE, bootstrap.connect
    )
    for service in SERVICES:
        upgrade(service.package, SETTINGS[service.package]().database_url)
        print(f"migrate: {service.package} at head", flush=True)
    # The payment provider stand-in: its own database and role, not a platform service.
    postgres.ensure_roles(
        {PAYMENT_PROVIDER_DATABASE: PAYMENT_PROVIDER_ROLE}, relay=None, connect=bootstrap.connect
    )
    upgrade("payment_provider", ProviderSettings().database_url)
    print("migrate: payment_provider at head", flush=True)
    postgres.grant_relay(databases, RELAY_ROLE, bootstrap.connect)
    # The PostgreSQL exporter's pg_monitor role (MONITORING_DB_PASSWORD).
    postgres.ensure_monitoring_role(MONITORING_ROLE, bootstrap.connect)
    create_topics()


if __name__ == "__main__":
    main()
