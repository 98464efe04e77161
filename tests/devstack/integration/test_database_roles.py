"""Least privilege in PostgreSQL, against the running stack's server: every service connects as
its own role, which owns its database and everything in it and nothing else, cannot reach another
service's database, create databases or roles, or act as a superuser; the relay's role can read
and trim outboxes and move its position, and touch nothing else. And an existing database whose
objects the bootstrap superuser created (before roles existed) is handed over in place."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import psycopg2
import psycopg2.errors
import pytest
from psycopg2 import sql

from devstack import layout, postgres
from servicekit.migrations import head, upgrade
from tests.support import sqlalchemy_url

SERVICES = layout.SERVICES
# One business table of each service, which the relay must not read or write.
BUSINESS_TABLES = {
    "auth_service": "accounts",
    "user_service": "profiles",
    "product_service": "products",
    "order_service": "orders",
    "payment_service": "payments",
    "notification_service": "notifications",
    "ops_service": "dlq_replays",
}


def connect(url: str) -> Any:
    """An autocommit connection: each statement stands alone, a refused one spoils nothing."""
    conn = psycopg2.connect(url, connect_timeout=5)
    conn.autocommit = True
    return conn


def scalar(conn: Any, statement: str, *args: Any) -> Any:
    with conn.cursor() as cur:
        cur.execute(statement, args)
        row = cur.fetchone()
        return None if row is None else row[0]


@pytest.fixture(scope="module")
def provisioned() -> None:
    """The stack's databases exist with their roles (`make up` ran)."""
    for service in SERVICES:
        try:
            connect(layout.libpq_url(service.database)).close()
        except psycopg2.OperationalError as exc:
            pytest.fail(f"{service.role.name} cannot connect; run `make up` first: {exc}")


@pytest.mark.usefixtures("provisioned")
@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.package)
def test_a_service_role_owns_its_database_and_everything_in_it(service: layout.Service) -> None:
    with closing(connect(layout.libpq_url(service.database))) as conn:
        assert scalar(conn, "SELECT current_user") == service.role.name
        assert (
            scalar(
                conn,
                "SELECT pg_get_userbyid(datdba) FROM pg_database"
                " WHERE datname = current_database()",
            )
            == service.role.name
        )
        with conn.cursor() as cur:
            # Extension objects (pg_stat_statements, pg_trgm) belong to their extension.
            cur.execute(
                """
                SELECT c.relname, pg_get_userbyid(c.relowner)
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND c.relowner <> current_user::regrole
                  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                  AND d.objid = c.oid AND d.deptype = 'e')
                UNION ALL
                SELECT p.proname, pg_get_userbyid(p.proowner)
                FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = 'public' AND p.proowner <> current_user::regrole
                  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                                  AND d.objid = p.oid AND d.deptype = 'e')
                """
            )
            assert cur.fetchall() == []
        assert scalar(conn, "SELECT count(*) FROM alembic_version") == 1


@pytest.mark.usefixtures("provisioned")
@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.package)
def test_a_service_role_is_no_superuser_and_creates_no_database_or_role(
    service: layout.Service,
) -> None:
    with closing(connect(layout.libpq_url(service.database))) as conn:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls"
                " FROM pg_roles WHERE rolname = current_user"
            )
            assert cur.fetchone() == (False, False, False, False, False)
        name = f"denied_{uuid.uuid4().hex[:8]}"
        with pytest.raises(psycopg2.errors.InsufficientPrivilege), conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        with pytest.raises(psycopg2.errors.InsufficientPrivilege), conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(name)))
        # Reading the server's files or running programs is for superusers only.
        with pytest.raises(psycopg2.errors.InsufficientPrivilege), conn.cursor() as cur:
            cur.execute("SELECT pg_read_file('postgresql.conf')")


@pytest.mark.usefixtures("provisioned")
@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.package)
def test_a_service_role_cannot_connect_to_another_services_database(
    service: layout.Service,
) -> None:
    for other in SERVICES:
        if other is service:
            continue
        with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
            connect(layout.role_url(service.role, other.database)).close()


@pytest.mark.usefixtures("provisioned")
def test_the_bootstrap_superuser_is_the_only_superuser() -> None:
    with closing(connect(layout.admin_url("postgres"))) as conn, conn.cursor() as cur:
        cur.execute("SELECT rolname FROM pg_roles WHERE rolsuper ORDER BY rolname")
        assert [row[0] for row in cur.fetchall()] == [layout.PG_USER]
        # The running processes (each names itself) connect as their database's role, or as
        # the relay's.
        owned = [s.database for s in SERVICES] + [layout.PAYMENT_PROVIDER_DATABASE]
        cur.execute(
            "SELECT datname, usename, application_name FROM pg_stat_activity"
            " WHERE datname = ANY(%s) AND application_name <> ''",
            (owned,),
        )
        connections = cur.fetchall()
    assert {row[0] for row in connections} >= {s.database for s in SERVICES}, connections
    for database, user, application in connections:
        expected = layout.RELAY_ROLE.name if application.startswith("outbox_relay") else database
        assert user == expected, (database, application)


@pytest.mark.usefixtures("provisioned")
@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.package)
def test_the_relay_reads_and_trims_the_outbox_and_writes_no_business_table(
    service: layout.Service,
) -> None:
    with closing(connect(layout.relay_url(service.database))) as conn:
        assert scalar(conn, "SELECT count(*) >= 0 FROM outbox")
        assert scalar(conn, "SELECT count(*) FROM outbox_relay_position") == 1
        with conn.cursor() as cur:
            # What the relay does (outbox_relay/relay.py), on no row.
            cur.execute("DELETE FROM outbox WHERE false")
            cur.execute("UPDATE outbox_relay_position SET updated_at = updated_at WHERE false")
            cur.execute("LISTEN outbox_ready")
            cur.execute("SELECT pg_try_advisory_lock(1), pg_advisory_unlock(1)")
        refused = [
            "INSERT INTO outbox (event_id, aggregate_type, aggregate_id, event_type, payload)"
            " VALUES (gen_random_uuid(), 'x', 'x', 'x', '{}')",
            "UPDATE outbox SET payload = payload WHERE false",
            "DELETE FROM inbox WHERE false",
            f"SELECT 1 FROM {BUSINESS_TABLES[service.database]} LIMIT 1",
            f"INSERT INTO {BUSINESS_TABLES[service.database]} DEFAULT VALUES",
            f"DELETE FROM {BUSINESS_TABLES[service.database]} WHERE false",
            f"TRUNCATE {BUSINESS_TABLES[service.database]}",
            "CREATE TABLE relay_was_here (x int)",
        ]
        for statement in refused:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege), conn.cursor() as cur:
                cur.execute(statement)


# -- provisioning an existing database in place --------------------------------------------------


@pytest.fixture
def legacy_database() -> Iterator[tuple[str, layout.Role, layout.Role, layout.Role]]:
    """A product database as it was before roles: created and migrated (to 0002) by the
    bootstrap superuser; plus the names of three roles to provision, dropped afterwards."""
    tag = uuid.uuid4().hex[:10]
    database = f"roles_{tag}"
    owner = layout.Role(f"roles_owner_{tag}", f"ROLES_OWNER_{tag}")
    relay = layout.Role(f"roles_relay_{tag}", f"ROLES_RELAY_{tag}")
    stranger = layout.Role(f"roles_stranger_{tag}", f"ROLES_STRANGER_{tag}")
    with closing(connect(layout.admin_url("postgres"))) as admin, admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        try:
            upgrade(
                "product_service",
                sqlalchemy_url(layout.admin_url(database)),
                revision="product_0002",
            )
            yield database, owner, relay, stranger
        finally:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )
            for role in (owner, relay, stranger):
                cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role.name)))


def test_an_existing_database_is_handed_to_its_role_in_place(
    legacy_database: tuple[str, layout.Role, layout.Role, layout.Role],
) -> None:
    database, owner, relay, stranger = legacy_database
    for _ in range(2):  # idempotent: the second run finds nothing to do and changes nothing
        postgres.ensure_roles({database: owner}, relay)
    # The role now owns what the superuser made, so its own migrations can change it: 0003
    # replaces a function, 0004 alters a table.
    upgrade("product_service", sqlalchemy_url(layout.role_url(owner, database)))
    postgres.grant_relay([database], relay)
    with closing(connect(layout.role_url(owner, database))) as conn:
        assert scalar(conn, "SELECT version_num FROM alembic_version") == head("product_service")
        assert (
            scalar(
                conn,
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relowner <> current_user::regrole"
                " AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass"
                " AND d.objid = c.oid AND d.deptype = 'e')",
            )
            == 0
        )
        assert (
            scalar(
                conn,
                "SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'outbox_notify'",
            )
            == owner.name
        )
    with closing(connect(layout.role_url(relay, database))) as conn:
        assert scalar(conn, "SELECT count(*) FROM outbox_relay_position") == 1
    # A role that is neither the owner nor the relay is not let in at all.
    with closing(connect(layout.admin_url("postgres"))) as admin, admin.cursor() as cur:
        postgres.ensure_role(cur, stranger)
    with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
        connect(layout.role_url(stranger, database)).close()
