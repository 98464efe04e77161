"""The local PostgreSQL server: our own data directory under var/, run by the supervisor."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
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
# A forgotten open transaction holds back every outbox relay on this server; end it.
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


def choose_data_dir() -> None:
    """Use var/pgdata unless the postgres user cannot reach it; then PostgreSQL's own home."""
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
    conn = psycopg2.connect(layout.libpq_url(database), connect_timeout=3)
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


def ensure_databases(names: list[str]) -> None:
    """CREATE DATABASE for every name that does not exist yet."""
    with closing(admin_connection()) as conn, conn.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database")
        existing = {row[0] for row in cur.fetchall()}
        for name in names:
            if name not in existing:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                print(f"postgres: created database {name}")
