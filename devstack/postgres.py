"""The local PostgreSQL server: our own data directory under var/, run by the supervisor; and the
roles the platform connects as (the same code provisions docker compose: deploy/migrate.py)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from contextlib import closing
from pathlib import Path

import psycopg2
from psycopg2 import sql

from devstack import layout

CONF = """
# Written by devstack; edits are overwritten on the next `make up`.
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
max_connections = 300
shared_buffers = 256MB
work_mem = 8MB
maintenance_work_mem = 64MB
wal_level = replica
max_wal_size = 2GB
checkpoint_timeout = 15min
# A forgotten open transaction holds back vacuum (and keeps its locks): end it. The relays do not
# wait for it any more (docs/relay.md).
idle_in_transaction_session_timeout = '120s'
log_destination = 'stderr'
log_line_prefix = '%m [%p] %q%u@%d '
log_min_duration_statement = 1000
# Per-statement call counts and times (SELECT * FROM pg_stat_statements): the first place to
# look when a service's database time grows.
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = top
"""


def server_bin() -> Path:
    """The newest installed PostgreSQL server binary directory (15 or later)."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3])
    )
    if not candidates:
        raise SystemExit("PostgreSQL server not installed: run `make up` (it installs it)")
    return Path(candidates[-1]).parent


def _postgres_can_enter(path: Path) -> bool:
    probe = subprocess.run(
        ["runuser", "-u", "postgres", "--", "test", "-x", str(path)], check=False
    )
    return probe.returncode == 0


_data_dir_chosen = False


def choose_data_dir() -> None:
    """Use var/pgdata unless the postgres user cannot reach it; then PostgreSQL's own home (and
    its socket there too). Decided once per process."""
    global _data_dir_chosen  # noqa: PLW0603 - layout's paths are process-wide
    if _data_dir_chosen:
        return
    _data_dir_chosen = True
    layout.VAR.mkdir(parents=True, exist_ok=True)
    if not _postgres_can_enter(layout.VAR):
        layout.PGDATA = layout.PG_FALLBACK_HOME / "pgdata"
        layout.PG_SOCKET_DIR = layout.PG_FALLBACK_HOME / "socket"
        layout.PG_FALLBACK_HOME.mkdir(parents=True, exist_ok=True)
        shutil.chown(layout.PG_FALLBACK_HOME, "postgres", "postgres")
        print(
            f"postgres: {layout.VAR} is not reachable by the postgres user; "
            f"data lives in {layout.PGDATA}"
        )


def ensure_cluster() -> None:
    """initdb once, with the platform superuser and password authentication on TCP."""
    choose_data_dir()
    postgres_user = pwd.getpwnam("postgres")
    for directory in (layout.PG_SOCKET_DIR,):
        directory.mkdir(parents=True, exist_ok=True)
        os.chown(directory, postgres_user.pw_uid, postgres_user.pw_gid)
    if not (layout.PGDATA / "PG_VERSION").exists():
        layout.PGDATA.mkdir(parents=True, exist_ok=True)
        os.chown(layout.PGDATA, postgres_user.pw_uid, postgres_user.pw_gid)
        os.chmod(layout.PGDATA, 0o700)
        with tempfile.NamedTemporaryFile("w", delete=False, dir="/tmp") as pwfile:
            pwfile.write(layout.PG_PASSWORD + "\n")
        os.chown(pwfile.name, postgres_user.pw_uid, postgres_user.pw_gid)
        try:
            subprocess.run(
                [
                    "runuser",
                    "-u",
                    "postgres",
                    "--",
                    str(server_bin() / "initdb"),
                    "-D",
                    str(layout.PGDATA),
                    "-U",
                    layout.PG_USER,
                    f"--pwfile={pwfile.name}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        finally:
            os.unlink(pwfile.name)
        print(f"postgres: initialised a cluster in {layout.PGDATA}")
    conf = layout.PGDATA / "conf.d-devstack.conf"
    conf.write_text(CONF.format(port=layout.PG_PORT, socket_dir=layout.PG_SOCKET_DIR))
    shutil.chown(conf, "postgres", "postgres")
    main_conf = layout.PGDATA / "postgresql.conf"
    include = "include_if_exists = 'conf.d-devstack.conf'"
    if include not in main_conf.read_text():
        with main_conf.open("a") as handle:
            handle.write(f"\n{include}\n")


def command() -> str:
    """The supervisor command line for the server."""
    return f"{server_bin() / 'postgres'} -D {layout.PGDATA}"


def admin_connection(database: str = "postgres") -> psycopg2.extensions.connection:
    """An autocommit superuser connection over TCP."""
    conn = psycopg2.connect(layout.admin_url(database), connect_timeout=3)
    conn.autocommit = True
    return conn


def is_ready() -> bool:
    """True when the server accepts our superuser."""
    try:
        admin_connection().close()
        return True
    except psycopg2.OperationalError:
        return False


def reload_config() -> bool:
    """Apply edits of the devstack configuration to a running server.

    Returns True when some changed setting only takes effect after a restart.
    """
    with closing(admin_connection()) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_reload_conf()")
        # pg_file_settings reads the files now, so this does not race with the reload signal.
        cur.execute(
            "SELECT count(*) FROM pg_file_settings"
            " WHERE NOT applied AND error = 'setting could not be applied'"
        )
        row = cur.fetchone()
        return bool(row and row[0])


def ensure_extensions(names: list[str]) -> None:
    """pg_stat_statements in every service database (statistics are server-wide; the view is
    per database)."""
    for name in names:
        with closing(admin_connection(name)) as conn, conn.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")


# -- least privilege -------------------------------------------------------------------------------
#
# Each service database is owned by the service's own role, which its migrations run as too, so
# that everything in it belongs to that role and to nobody else. No platform role is a superuser
# or may create databases or roles; only the bootstrap superuser (POSTGRES_USER) does that, here.
# Nobody but the owner and the relay may even connect to a service database.

# An autocommit superuser connection to the named database.
AdminConnect = Callable[[str], psycopg2.extensions.connection]

# What the outbox relay does in every service database, and all it may do there: read the
# outbox and delete what it published, read and move its position (servicekit/messaging/schema.py
# has both tables). LISTEN and its advisory lock need no privilege.
RELAY_PRIVILEGES: Mapping[str, tuple[str, ...]] = {
    "outbox": ("SELECT", "DELETE"),
    "outbox_relay_position": ("SELECT", "INSERT", "UPDATE"),
}

_ROLE_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT"

# Every object of the database's own schemas not owned by ``role`` yet, as the ALTER statement
# that hands it over. Objects of extensions stay with the extension; indexes, identity sequences
# and triggers follow their table.
_OBJECTS_TO_HAND_OVER = """
WITH target AS (SELECT %(role)s::regrole AS oid),
own_schemas AS (
    SELECT oid, nspname, nspowner FROM pg_namespace
    WHERE nspname <> 'information_schema' AND nspname NOT LIKE 'pg\\_%%'
),
from_extension AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e')
SELECT format('ALTER SCHEMA %%I OWNER TO %%I', n.nspname, %(role)s)
FROM own_schemas n, target
WHERE n.nspowner NOT IN (target.oid, 'pg_database_owner'::regrole)
  AND (n.nspname <> 'public' OR n.nspowner <> 'pg_database_owner'::regrole)
  AND NOT EXISTS (SELECT FROM from_extension e
                  WHERE e.classid = 'pg_namespace'::regclass AND e.objid = n.oid)
UNION ALL
SELECT format('ALTER %%s %%s OWNER TO %%I',
              CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                             WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE'
                             ELSE 'TABLE' END,
              c.oid::regclass, %(role)s)
FROM pg_class c JOIN own_schemas n ON n.oid = c.relnamespace, target
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND c.relowner <> target.oid
  AND NOT EXISTS (SELECT FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                    AND d.deptype IN ('e', 'a', 'i'))
UNION ALL
SELECT format('ALTER ROUTINE %%s OWNER TO %%I', p.oid::regprocedure, %(role)s)
FROM pg_proc p JOIN own_schemas n ON n.oid = p.pronamespace, target
WHERE p.prokind IN ('f', 'p') AND p.proowner <> target.oid
  AND NOT EXISTS (SELECT FROM from_extension e
                  WHERE e.classid = 'pg_proc'::regclass AND e.objid = p.oid)
UNION ALL
SELECT format('ALTER TYPE %%s OWNER TO %%I', t.oid::regtype, %(role)s)
FROM pg_type t JOIN own_schemas n ON n.oid = t.typnamespace, target
WHERE (t.typtype IN ('e', 'd', 'r')
       OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))
  AND t.typowner <> target.oid
  AND NOT EXISTS (SELECT FROM from_extension e
                  WHERE e.classid = 'pg_type'::regclass AND e.objid = t.oid)
"""


def ensure_role(cur: psycopg2.extensions.cursor, role: layout.Role) -> None:
    """Create the login role, or bring an existing one back to exactly these attributes and its
    current password (a changed setting takes effect on the next run)."""
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role.name,))
    verb = "ALTER" if cur.fetchone() else "CREATE"
    cur.execute(
        sql.SQL("{} ROLE {} " + _ROLE_ATTRIBUTES + " PASSWORD {}").format(
            sql.SQL(verb), sql.Identifier(role.name), sql.Literal(role.password)
        )
    )
    if verb == "CREATE":
        print(f"postgres: created role {role.name}")


def ensure_roles(
    owners: Mapping[str, layout.Role],
    relay: layout.Role | None,
    connect: AdminConnect = admin_connection,
) -> None:
    """Every database of ``owners`` (database -> its role) exists, belongs to its role with
    everything in it, and admits only that role and the ``relay`` (if any). Idempotent: an
    existing database whose objects the bootstrap superuser created (before roles existed) is
    handed over in place. Run before the migrations, which then run as each database's role."""
    with closing(connect("postgres")) as conn, conn.cursor() as cur:
        for role in (*owners.values(), *([relay] if relay else [])):
            ensure_role(cur, role)
        cur.execute("SELECT datname FROM pg_database")
        existing = {row[0] for row in cur.fetchall()}
        for database, role in owners.items():
            name = sql.Identifier(database)
            if database not in existing:
                cur.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(name, sql.Identifier(role.name))
                )
                print(f"postgres: created database {database}")
            else:
                cur.execute(
                    sql.SQL("ALTER DATABASE {} OWNER TO {}").format(name, sql.Identifier(role.name))
                )
            cur.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(name))
            if relay is not None:
                cur.execute(
                    sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                        name, sql.Identifier(relay.name)
                    )
                )
    for database, role in owners.items():
        _hand_over_objects(database, role, connect)


def _hand_over_objects(database: str, role: layout.Role, connect: AdminConnect) -> None:
    with closing(connect(database)) as conn, conn.cursor() as cur:
        # A statement waiting for a table lock queues every later query on that table behind
        # it: give up quickly and try again rather than stall whatever still uses the database.
        cur.execute("SET lock_timeout = '5s'")
        cur.execute(_OBJECTS_TO_HAND_OVER, {"role": role.name})
        statements = [row[0] for row in cur.fetchall()]
        for statement in statements:
            for attempt in range(1, 7):
                try:
                    cur.execute(statement)
                    break
                except psycopg2.errors.LockNotAvailable:
                    if attempt == 6:
                        raise
                    time.sleep(attempt)
        if statements:
            print(f"postgres: {database}: {len(statements)} objects now owned by {role.name}")


def ensure_monitoring_role(role: layout.Role, connect: AdminConnect = admin_connection) -> None:
    """The PostgreSQL exporter's login role: a member of pg_monitor, which reads the statistics
    views (pg_stat_activity in full, pg_stat_database, database sizes, settings) and no table of
    any database; it may connect to the ``postgres`` database only. Idempotent, like
    ensure_roles (a changed password applies on the next run)."""
    with closing(connect("postgres")) as conn, conn.cursor() as cur:
        ensure_role(cur, role)
        name = sql.Identifier(role.name)
        cur.execute(sql.SQL("GRANT pg_monitor TO {}").format(name))
        cur.execute(sql.SQL("GRANT CONNECT ON DATABASE postgres TO {}").format(name))


def exporter_command() -> str:
    """The supervisor command line of the PostgreSQL exporter (the Debian package's binary)."""
    return (
        "prometheus-postgres-exporter"
        f" --web.listen-address=127.0.0.1:{layout.POSTGRES_EXPORTER_PORT} --log.format=json"
    )


def exporter_environment() -> dict[str, str]:
    """Where the exporter connects: the ``postgres`` database as the monitoring role (plain TCP on
    loopback; the Go driver would otherwise insist on TLS)."""
    return {
        "DATA_SOURCE_NAME": layout.role_url(layout.MONITORING_ROLE, "postgres") + "?sslmode=disable"
    }


def grant_relay(
    databases: list[str], relay: layout.Role, connect: AdminConnect = admin_connection
) -> None:
    """The relay's privileges (RELAY_PRIVILEGES) in every service database; after the migrations,
    which create the tables."""
    for database in databases:
        with closing(connect(database)) as conn, conn.cursor() as cur:
            for table, privileges in RELAY_PRIVILEGES.items():
                cur.execute(
                    sql.SQL("GRANT {} ON TABLE {} TO {}").format(
                        sql.SQL(", ").join(map(sql.SQL, privileges)),
                        sql.Identifier(table),
                        sql.Identifier(relay.name),
                    )
                )
