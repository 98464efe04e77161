"""The accounts table's own rules (auth_0007), on a throw-away PostgreSQL database: a guest has
the one role ``guest`` and no email or password, every other account has an email, a name and a
password hash, only known roles are stored; the revision applies over accounts made before it
and its downgrade takes the guests away (they cannot exist before it)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg2
import pytest
from alembic import command
from psycopg2 import errors as pg_errors

from servicekit.migrations import alembic_config, upgrade
from tests.support import scratch_database, sqlalchemy_url

pytestmark = pytest.mark.integration

INSERT = (
    "INSERT INTO accounts (user_id, email, full_name, password_hash, roles)"
    " VALUES (%s, %s, %s, %s, %s)"
)
EMAIL, NAME, HASH = "ann@example.com", "Ann", "$argon2id$x"


@pytest.fixture
def database(engines: None) -> Iterator[str]:
    with scratch_database("auth_schema") as url:
        upgrade("auth_service", sqlalchemy_url(url), "auth_0006")
        yield url


def insert(
    url: str, email: str | None, name: str | None, hash_: str | None, roles: list[str]
) -> str:
    user_id = str(uuid.uuid4())
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(INSERT, (user_id, email, name, hash_, roles))
    return user_id


def count(url: str) -> int:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM accounts")
        return int(cur.fetchone()[0])


@pytest.mark.parametrize(
    ("email", "name", "hash_", "roles"),
    [
        (None, NAME, HASH, ["customer"]),  # a customer without an email
        (EMAIL, NAME, None, ["customer"]),  # ... without a password
        (EMAIL, None, HASH, ["admin"]),  # ... without a name
        (EMAIL, NAME, HASH, ["guest"]),  # a guest with an email and password
        (None, None, None, ["guest", "customer"]),  # a guest with another role
        (None, None, None, ["customer"]),  # nobody at all
        (EMAIL, NAME, HASH, []),  # no role
        (EMAIL, NAME, HASH, ["customer", "root"]),  # a role nobody knows
    ],
)
def test_the_table_refuses_an_account_that_is_neither_a_guest_nor_registered(
    database: str, email: str | None, name: str | None, hash_: str | None, roles: list[str]
) -> None:
    upgrade("auth_service", sqlalchemy_url(database))
    with pytest.raises(pg_errors.CheckViolation):
        insert(database, email, name, hash_, roles)
    assert count(database) == 0


def test_guests_and_every_registered_role_are_stored(database: str) -> None:
    upgrade("auth_service", sqlalchemy_url(database))
    insert(database, None, None, None, ["guest"])
    insert(database, None, NAME, None, ["guest"])  # a name is not required of a guest
    insert(database, EMAIL, NAME, HASH, ["admin", "customer", "staff"])
    assert count(database) == 3


def test_the_revision_keeps_older_accounts_and_its_downgrade_removes_only_guests(
    database: str,
) -> None:
    customer = insert(database, EMAIL, NAME, HASH, ["customer"])
    admin = insert(database, "admin@example.com", "Administrator", HASH, ["admin", "customer"])
    upgrade("auth_service", sqlalchemy_url(database))
    guest = insert(database, None, None, None, ["guest"])
    with psycopg2.connect(database) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO refresh_tokens (token_id, family_id, user_id, token_hash, expires_at)"
            " VALUES (%s, %s, %s, 'hash', now() + interval '1 day')",
            (str(uuid.uuid4()), str(uuid.uuid4()), guest),
        )
    command.downgrade(alembic_config("auth_service", sqlalchemy_url(database)), "auth_0006")
    with psycopg2.connect(database) as conn, conn.cursor() as cur:
        cur.execute("SELECT user_id::text FROM accounts ORDER BY email")
        assert [row[0] for row in cur.fetchall()] == [admin, customer]
        cur.execute("SELECT count(*) FROM refresh_tokens")
        assert cur.fetchone()[0] == 0
    with pytest.raises(pg_errors.NotNullViolation):
        insert(database, None, None, None, ["guest"])
    upgrade("auth_service", sqlalchemy_url(database))  # and up again
    assert count(database) == 2
