"""ANALYZE of the outbox samples the columns the relay filters on, and skips the JSON it never
filters on, in every service database (each service's migration says so); a downgrade gives the
columns back their default."""

from __future__ import annotations

import uuid

import psycopg2
import pytest
from alembic import command

from servicekit.migrations import alembic_config
from tests.support import scratch_database, sqlalchemy_url

pytestmark = pytest.mark.integration

# Every service that owns an outbox, and the revision before its statistics migration.
SERVICES = {
    "auth_service": "auth_0007",
    "user_service": "user_0005",
    "product_service": "product_0006",
    "order_service": "order_0005",
    "payment_service": "payment_0005",
    "notification_service": "notification_0005",
    "ops_service": "ops_0002",
}
FILTERED = {"txid", "id", "created_at"}
NEVER_FILTERED = {
    "event_id",
    "aggregate_type",
    "aggregate_id",
    "event_type",
    "payload",
    "headers",
    "event_version",
}


def analysed_columns(url: str) -> set[str]:
    """Write outbox rows, ANALYZE, and name the columns that now have statistics."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        for n in range(200):
            cur.execute(
                "INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type, payload)"
                " VALUES (%s, 'order', %s, 'order.created', %s::jsonb)",
                (str(uuid.uuid4()), str(uuid.uuid4()), f'{{"n": {n}}}'),
            )
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("ANALYZE outbox")
        cur.execute("SELECT attname FROM pg_stats WHERE tablename = 'outbox'")
        return {row[0] for row in cur.fetchall()}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_analyze_samples_only_what_the_relay_filters_on(service: str) -> None:
    with scratch_database("stats", migrations=service) as url:
        assert analysed_columns(url) == FILTERED


def test_the_downgrade_restores_the_default_statistics() -> None:
    with scratch_database("stats", migrations="order_service") as url:
        command.downgrade(
            alembic_config("order_service", sqlalchemy_url(url)), SERVICES["order_service"]
        )
        assert analysed_columns(url) == FILTERED | NEVER_FILTERED
