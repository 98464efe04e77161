"""The database side of a service: one engine and session factory, made in create_app()."""

from __future__ import annotations

import collections
import contextlib
import functools
import hashlib
import re
import select
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, CursorResult, Engine, create_engine, event, text
from sqlalchemy.exc import (
    DisconnectionError,
    MultipleResultsFound,
    NoResultFound,
    ProgrammingError,
    ResourceClosedError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session, sessionmaker

from servicekit.logging import get_logger

log = get_logger(__name__)


def sql(
    session: Session, statement: str, params: Mapping[str, Any] | None = None
) -> CursorResult[*tuple[Any, ...]]:
    """Run hand-written SQL (psycopg2 ``%(name)s`` parameters) in ``session``'s transaction.

    For the saga's hot paths (inbox, outbox, event handlers). A Core statement costs about 110 us
    of Python per execution (building the expression, its cache key, the execution context);
    ``exec_driver_sql`` about 64 us, and this, which returns :class:`Rows` for a prepared
    statement, about 43 us (one process, ``SELECT`` of one inbox row, the local PostgreSQL,
    2-core machine). Errors, disconnect handling and the transaction are SQLAlchemy's as usual:
    it is still the session's connection. A literal ``%`` in the SQL is written ``%%``.

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
    queued = _queued.pop(connection, None)
    cursor = dbapi.cursor()
    if queued:
        # The statements queued by sql_later go first, in the same round trip.
        batch = "; ".join([*queued, _literal(dbapi, prepared.execute, values)])
        connection._cursor_execute(cursor, batch, None)  # type: ignore[arg-type] # literal SQL
    else:
        connection._cursor_execute(cursor, prepared.execute, values)
    return Rows(cursor)  # type: ignore[return-value]


class Rows:
    """What sql() returns for a prepared statement: the rows of its cursor, read the ways our
    callers read a CursorResult (first, one, all, scalar, scalar_one, mappings, iteration,
    rowcount), each row a named tuple (by index or by column name).

    A prepared statement runs on the session connection's DBAPI cursor through
    ``Connection._cursor_execute``: SQLAlchemy's before-execute hooks, error wrapping
    (IntegrityError, OperationalError...) and invalidation of a connection the server dropped
    are the same as for ``exec_driver_sql``, without an execution context and a CursorResult
    per statement, which cost about as much Python as the rest of the statement (64 against 29
    us of CPU per EXECUTE, measured in one process against the local PostgreSQL). psycopg2
    reads every row when the statement runs, so nothing is left open.
    """

    __slots__ = ("_keys", "_rows", "rowcount")

    def __init__(self, cursor: Any) -> None:
        self.rowcount: int = cursor.rowcount
        description = cursor.description
        if description is None:
            self._keys: tuple[str, ...] = ()
            self._rows: list[Any] | None = None
        else:
            self._keys = tuple(column.name for column in description)
            make = _row_type(self._keys)._make
            self._rows = [make(row) for row in cursor.fetchall()]
        cursor.close()

    def _all(self) -> list[Any]:
        if self._rows is None:
            raise ResourceClosedError("This result object does not return rows.")
        rows, self._rows = self._rows, []
        return rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self._all())

    def keys(self) -> tuple[str, ...]:
        """The column names."""
        return self._keys

    def all(self) -> list[Any]:
        """Every row."""
        return self._all()

    def fetchall(self) -> list[Any]:
        """Every row left."""
        return self._all()

    def first(self) -> Any | None:
        """The first row, or None; the rest are dropped."""
        rows = self._all()
        return rows[0] if rows else None

    def fetchone(self) -> Any | None:
        """The next row, or None."""
        if self._rows is None:
            raise ResourceClosedError("This result object does not return rows.")
        return self._rows.pop(0) if self._rows else None

    def one_or_none(self) -> Any | None:
        """The only row, or None; more than one raises MultipleResultsFound."""
        rows = self._all()
        if len(rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when one or none was required")
        return rows[0] if rows else None

    def one(self) -> Any:
        """The only row; none raises NoResultFound, more MultipleResultsFound."""
        row = self.one_or_none()
        if row is None:
            raise NoResultFound("No row was found when one was required")
        return row

    def scalar(self) -> Any | None:
        """The first column of the first row, or None."""
        row = self.first()
        return row[0] if row is not None else None

    def scalar_one(self) -> Any:
        """The first column of the only row (see one)."""
        return self.one()[0]

    def scalar_one_or_none(self) -> Any | None:
        """The first column of the only row, or None (see one_or_none)."""
        row = self.one_or_none()
        return row[0] if row is not None else None

    def scalars(self) -> list[Any]:
        """The first column of every row."""
        return [row[0] for row in self._all()]

    def mappings(self) -> _Mappings:
        """The rows as dicts, column name to value."""
        keys = self._keys
        return _Mappings([dict(zip(keys, row, strict=True)) for row in self._all()])


class _Mappings(list[dict[str, Any]]):
    """Rows as dicts: iterate them, or all(), first(), one()."""

    def all(self) -> list[dict[str, Any]]:
        return list(self)

    def first(self) -> dict[str, Any] | None:
        return self[0] if self else None

    def one(self) -> dict[str, Any]:
        if len(self) != 1:
            raise (NoResultFound if not self else MultipleResultsFound)(
                "Exactly one row was required"
            )
        return self[0]


@functools.lru_cache(maxsize=1024)
def _row_type(keys: tuple[str, ...]) -> Any:
    """A named tuple class for rows of these columns (made once per set of names)."""
    return collections.namedtuple("Row", keys, rename=True)


def sql_later(session: Session, statement: str, params: Mapping[str, Any] | None = None) -> None:
    """Like :func:`sql`, for a statement whose result nobody reads: it is sent with the next
    statement of the transaction, in the same round trip, and at the latest before COMMIT.

    A saga step was a round trip per lock and per write (the aggregate's lock, its update, the
    outbox row, the timeline, the inbox row), each costing PostgreSQL and the service more than
    the statement's own work. Queued statements still run in order, before anything else runs
    on the connection (any statement, sql() or not, and COMMIT send them first), so a lock
    queued before a read is taken before that read; an error of a queued statement surfaces
    from whatever sent it (the commit, for the last ones) and fails the transaction as it would
    have. A rollback drops them.
    """
    connection = session.connection()
    prepared = _prepared_form(statement)
    dbapi = connection.connection.dbapi_connection
    if (
        prepared is None
        or dbapi is None
        or prepared.name not in _prepared_on.get(dbapi, ())
        or connection.engine not in _engines_sending_queued
    ):
        # Not prepared on this connection yet (or cannot be): now, the usual way.
        sql(session, statement, params)
        return
    values = dict(params) if params else {}
    _queued.setdefault(connection, []).append(_literal(dbapi, prepared.execute, values))


def note_for_commit(session: Session, key: str, item: Any) -> None:
    """Remember ``item`` under ``key`` until the session's transaction ends: its commit hands
    every item noted to the callback of :func:`on_commit_of` for ``key``, a rollback drops them."""
    session.info.setdefault(_NOTED, {}).setdefault(key, []).append(item)


def on_commit_of(
    sessions: sessionmaker[Session], key: str, callback: Callable[[list[Any]], None]
) -> None:
    """After each commit of a ``sessions`` transaction that noted items under ``key``
    (:func:`note_for_commit`), call ``callback`` with them: what wakes a worker when the work it
    waits for is committed, and not before (a rolled back transaction wakes nobody). Every
    callback of a key gets the items (one worker per channel may wait on the same key)."""
    callbacks = _commit_callbacks.get(sessions)
    if callbacks is None:
        callbacks = _commit_callbacks[sessions] = {}

        def after_commit(session: Session) -> None:
            noted = session.info.pop(_NOTED, None)
            for noted_key, items in (noted or {}).items():
                for call in callbacks.get(noted_key, ()):
                    call(items)

        def after_rollback(session: Session) -> None:
            session.info.pop(_NOTED, None)

        event.listen(sessions, "after_commit", after_commit)
        event.listen(sessions, "after_rollback", after_rollback)
    callbacks.setdefault(key, []).append(callback)


_commit_callbacks: weakref.WeakKeyDictionary[
    sessionmaker[Session], dict[str, list[Callable[[list[Any]], None]]]
] = weakref.WeakKeyDictionary()

# Session.info key of what note_for_commit keeps, by the caller's key.
_NOTED = "servicekit.noted_for_commit"


def queue_statements(engine: Engine) -> None:
    """Make ``engine`` send sql_later's statements before any other statement and before COMMIT,
    and drop them on ROLLBACK (Database does it for its engine; sql_later runs the statement
    at once on an engine without it)."""
    if engine in _engines_sending_queued:
        return
    event.listen(engine, "before_cursor_execute", _send_queued_first)
    event.listen(engine, "commit", _send_queued_before_commit)
    event.listen(engine, "rollback", _drop_queued)
    _engines_sending_queued.add(engine)


# Statements queued by sql_later, per connection (one transaction's), as literal SQL.
_queued: weakref.WeakKeyDictionary[Connection, list[str]] = weakref.WeakKeyDictionary()
_engines_sending_queued: weakref.WeakSet[Engine] = weakref.WeakSet()
# Literal SQL goes to cursor.execute without parameters, so a % in a value stays a %.
_LITERAL = {"no_parameters": True}


def _literal(dbapi: Any, statement: str, values: Mapping[str, Any]) -> str:
    """The statement with its parameters in it, quoted by psycopg2 as it would send them."""
    with dbapi.cursor() as cursor:
        text: bytes = cursor.mogrify(statement, values)
    return text.decode()


def _send_queued_first(
    connection: Connection,
    cursor: Any,
    statement: str,
    parameters: Any,
    context: Any,
    executemany: bool,
) -> None:
    queued = _queued.pop(connection, None)
    if queued:
        cursor.execute("; ".join(queued))


def _send_queued_before_commit(connection: Connection) -> None:
    queued = _queued.pop(connection, None)
    if not queued:
        return
    dbapi = connection.connection.dbapi_connection
    if dbapi is None:  # no live DBAPI connection: let SQLAlchemy say so
        connection.exec_driver_sql("; ".join(queued), execution_options=_LITERAL)
        return
    # As sql() sends a batch: the same hooks and error handling as exec_driver_sql, without an
    # execution context and a result object (most transactions end with queued statements).
    cursor = dbapi.cursor()
    try:
        connection._cursor_execute(cursor, "; ".join(queued), None)  # type: ignore[arg-type]
    finally:
        cursor.close()


def _drop_queued(connection: Connection) -> None:
    _queued.pop(connection, None)


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
    if _closed_by_server(dbapi_connection):
        raise DisconnectionError("the server closed the connection while it was idle")


def _closed_by_server(dbapi_connection: Any) -> bool:
    """True when an idle connection is closed, or has the server's goodbye waiting on it."""
    if dbapi_connection.closed:
        return True
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


class KeptConnection:
    """A pooled connection, and a session on it, that one thread keeps between its transactions
    (a consumer's).

    Each transaction checked a connection out of the pool and back in, and built a session on
    it: about 70 of the 175-250 us of client CPU a consumer's transaction cost around its
    statements (one process, a one-statement transaction against the local PostgreSQL). The
    consumer's transactions come one after another on its own thread, so it keeps one
    connection, and one session of ``sessions`` bound to it that begins and commits each
    transaction in turn: the session's events, the queued statements (:func:`sql_later`) and
    the per-transaction notes (:func:`note_for_commit`, the aggregate locks) work as on any
    session of ``sessions``. Nothing else may be kept in the session between transactions
    (no ORM objects: the saga's code has none).

    What the pool did at checkout is done here: a connection the server closed while it sat
    idle (a database restart) is dropped before it is used, one that was invalidated by an
    error is replaced, and a transaction that fails gives its connection back (and drops the
    session), so the next one starts from a fresh checkout as before. The connection also goes
    back after ``hold_seconds``, so the pool's recycling still applies. Not thread-safe: one
    per thread.
    """

    def __init__(self, sessions: sessionmaker[Session], *, hold_seconds: float = 60.0) -> None:
        self._sessions = sessions
        self.hold_seconds = hold_seconds
        self._connection: Connection | None = None
        self._session: Session | None = None
        self._taken_at = 0.0

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """The kept session in a new transaction: committed when the block ends normally,
        rolled back (and the connection given back to the pool) when it raises."""
        session = self._session_for_use()
        try:
            with session.begin():
                yield session
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Close the session and give the connection back to the pool (the next transaction
        checks one out)."""
        session, self._session = self._session, None
        connection, self._connection = self._connection, None
        try:
            if session is not None:
                session.close()
        finally:
            if connection is not None:
                connection.close()

    def _session_for_use(self) -> Session:
        connection, session = self._connection, self._session
        if connection is not None and session is not None:
            dbapi = None if connection.invalidated else connection.connection.dbapi_connection
            stale = dbapi is None or _closed_by_server(dbapi)
            if stale:
                connection.invalidate()
            if stale or time.monotonic() - self._taken_at > self.hold_seconds:
                self.release()
                session = None
        if session is None:
            engine: Engine = self._sessions.kw["bind"]
            connection = self._connection = engine.connect()
            session = self._session = self._sessions(bind=connection)
            self._taken_at = time.monotonic()
        return session


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
        queue_statements(self.engine)
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
