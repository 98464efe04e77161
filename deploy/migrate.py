"""``python deploy/migrate.py``: the one-shot `migrate` service of docker-compose.yml.

Brings every service's database to its Alembic head, then creates the event catalog's topics with
their dead-letter topics: what `make up` does after starting the engines (devstack.cli.migrate and
create_topics), except that the databases already exist (deploy/postgres/create-databases.sql) and
each URL comes from the service's own settings class (``<PREFIX>_DATABASE_URL``).
"""

from __future__ import annotations

from auth_service.settings import AuthSettings
from devstack.cli import create_topics
from devstack.layout import SERVICES
from notification_service.settings import NotificationSettings
from order_service.settings import OrderSettings
from payment_provider.settings import ProviderSettings
from payment_service.settings import PaymentSettings
from product_service.settings import ProductSettings
from servicekit.migrations import upgrade
from servicekit.web import HttpServiceSettings
from user_service.settings import UserSettings

SETTINGS: dict[str, type[HttpServiceSettings]] = {
    "auth_service": AuthSettings,
    "user_service": UserSettings,
    "product_service": ProductSettings,
    "order_service": OrderSettings,
    "payment_service": PaymentSettings,
    "notification_service": NotificationSettings,
}


def main() -> None:
    """Migrate every service database, then create the topics; safe to run again."""
    for service in SERVICES:
        upgrade(service.package, SETTINGS[service.package]().database_url)
        print(f"migrate: {service.package} at head", flush=True)
    # The payment provider stand-in: its own database, not a platform service.
    upgrade("payment_provider", ProviderSettings().database_url)
    print("migrate: payment_provider at head", flush=True)
    create_topics()


if __name__ == "__main__":
    main()
