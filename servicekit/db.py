"""The database side of a service: one engine and session factory, made in create_app()."""

from __future__ import annotations

import hashlib
import re
import select
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, CursorResult, Engine, create_engine, event, text
from sqlalchemy.exc import DisconnectionError, ProgrammingError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from servicekit.logging import get_logger

log = get_logger(__name__)


def sql(
    session: Session, statement: str, params: Mapping[str, Any] | None = None
) -> CursorResult[*tuple[Any, ...]]:
    """Run hand-written SQL (psycopg2 ``%(name)s`` parameters) in ``session``'s transaction.

    For the saga's hot paths (inbox, outbox, event handlers). A Core statement costs about 110 us
    of Python per execution (building the expression, its cache key, the execution context);
    this costs about 50 us, measured on the benchmark machine. Errors, disconnect handling and
    the transaction are SQLAlchemy's as usual: it is still the session's connection. A literal
    ``%`` in the SQL is written ``%%``.

    Each statement is a server-side prepared statement of the connection after its first use,
    so PostgreSQL parses and plans it once per connection instead of on every call (psycopg2
    itself only speaks the simple query protocol). Write a cast after a parameter whose type
    PostgreSQL cannot infer from its use (``%(ids)s::uuid[]``); the cast is kept on both sides.
    """
    connection = session.connection()
    values = dict(params) if params else {}
    prepared = _prepared_form(statement)
    if prepared is None:
        return connection.exec_driver_sql(statement, values)
    dbapi = connection.connection.dbapi_connection
    if dbapi is None:  # no live DBAPI connection to prepare on: let SQLAlchemy deal with it
        return connection.exec_driver_sql(statement, values)
    names = _prepared_on.get(dbapi)
    if names is None:
        names = _prepared_on[dbapi] = set()
    if prepared.name not in names:
        if not _prepare(connection, statement, prepared):
            return connection.exec_driver_sql(statement, values)
        names.add(prepared.name)
    return connection.exec_driver_sql(prepared.execute, values)


@dataclass(frozen=True, slots=True)
class _Prepared:
    name: str
    prepare: str  # PREPARE <name> AS <statement with $1, $2, ...>
    execute: str  # EXECUTE <name>(%(a)s, %(b)s::type, ...)


_PARAMETER = re.compile(r"%\((\w+)\)s((?:::\w+(?:\[\])?)?)")
_forms: dict[str, _Prepared | None] = {}
_prepared_on: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def _prepared_form(statement: str) -> _Prepared | None:
    """The PREPARE/EXECUTE pair for a statement (None for one that cannot be prepared)."""
    try:
        return _forms[statement]
    except KeyError:
        pass
    first = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
    if first not in ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "VALUES"):
        _forms[statement] = None
        return None
    order: dict[str, tuple[int, str]] = {}

    def positional(match: re.Match[str]) -> str:
        name, cast = match.group(1), match.group(2)
        if name not in order:
            order[name] = (len(order) + 1, cast)
        return f"${order[name][0]}{cast}"

    body = _PARAMETER.sub(positional, statement).replace("%%", "%")
    name = "sk_" + hashlib.blake2b(statement.encode(), digest_size=8).hexdigest()
    arguments = ", ".join(f"%({key})s{cast}" for key, (_, cast) in order.items())
    form = _Prepared(
        name=name,
        prepare=f"PREPARE {name} AS {body}".replace("%", "%%"),
        execute=f"EXECUTE {name}({arguments})" if arguments else f"EXECUTE {name}",
    )
    _forms[statement] = form
    return form


def _prepare(connection: Connection, statement: str, prepared: _Prepared) -> bool:
    """PREPARE on this connection; False (and the transaction intact) if PostgreSQL refuses.

    PREPARE is not transactional: it outlives a rollback of the transaction it ran in. A
    savepoint keeps a refused PREPARE from aborting the caller's transaction.
    """
    try:
        connection.exec_driver_sql(
            f"SAVEPOINT sk_prepare; {prepared.prepare}; RELEASE SAVEPOINT sk_prepare", {}
        )
        return True
    except ProgrammingError as exc:
        connection.exec_driver_sql("ROLLBACK TO SAVEPOINT sk_prepare; RELEASE SAVEPOINT sk_prepare")
        log.warning("statement_not_prepared", statement=prepared.name, error=str(exc.orig).strip())
        _forms[statement] = None
        return False


def _drop_if_closed_by_server(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Refuse a pooled connection the server has already closed, so the pool opens a new one.

    A restarted or failed-over PostgreSQL ends every backend: each idle pooled connection then
    has the server's goodbye (or just EOF) waiting on its socket. An idle connection of ours
    has nothing to read otherwise (none of them LISTENs), so readable means gone; checking
    costs one poll() call, not the round trip of a pre-ping. Without it, the first request on
    each stale connection answered 503 after every database restart.
    """
    if dbapi_connection.closed:
        raise DisconnectionError("connection closed")
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    if poller.poll(0):
        raise DisconnectionError("the server closed the connection while it was idle")


class Database:
    """Engine plus session factory; sessions never commit by themselves (the unit of work does)."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 10,
        pool_timeout: float = 5.0,
        statement_timeout_ms: int = 15_000,
        application_name: str = "service",
    ) -> None:
        self.engine: Engine = create_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            # No pre-ping: it costs a round trip per checkout. _drop_if_closed_by_server
            # catches what a restart leaves behind without one.
            pool_pre_ping=False,
            pool_recycle=1800,
            connect_args={
                "connect_timeout": 5,
                "application_name": application_name,
                # Generic plans for our prepared statements (see sql()): they are key lookups
                # and small writes whose best plan does not depend on the values, and a custom
                # plan was planned again on every call.
                "options": (
                    f"-c statement_timeout={statement_timeout_ms} -c timezone=UTC"
                    " -c plan_cache_mode=force_generic_plan"
                ),
            },
        )
        event.listen(self.engine, "checkout", _drop_if_closed_by_server)
        self.sessions: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)
        # The most connections the pool hands out at once, and how long a checkout waits.
        self.max_connections = pool_size + max_overflow
        self.pool_timeout = pool_timeout

    def ping(self) -> bool:
        """True when the database answers."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
