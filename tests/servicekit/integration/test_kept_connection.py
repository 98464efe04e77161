"""servicekit.db.KeptConnection against the real PostgreSQL: one connection serves a thread's
transactions one after another, and what the pool did at each checkout still happens: a
connection the server closed while idle is replaced before use, a failed transaction gives its
connection back (its writes undone), and the session's commit hooks and queued statements work
as on any session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg2
import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.pool import QueuePool

from servicekit.db import Database, KeptConnection, note_for_commit, on_commit_of, sql, sql_later
from servicekit.messaging.outbox import lock_aggregate
from tests.support import sqlalchemy_url, wait_for

pytestmark = pytest.mark.integration

INSERT = "INSERT INTO notes (id, body) VALUES (%(id)s::uuid, %(body)s)"
COUNT = "SELECT count(*) FROM notes"
BACKEND = "SELECT pg_backend_pid()"
ADVISORY_LOCKS_HELD = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
)


@pytest.fixture
def database(scratch_db: str) -> Iterator[Database]:
    database = Database(sqlalchemy_url(scratch_db), pool_size=2, max_overflow=0)
    with database.sessions() as session, session.begin():
        session.execute(text("CREATE TABLE notes (id uuid PRIMARY KEY, body text NOT NULL)"))
    yield database
    database.dispose()


@pytest.fixture
def admin(scratch_db: str) -> Iterator[psycopg2.extensions.connection]:
    connection = psycopg2.connect(scratch_db)
    connection.autocommit = True
    yield connection
    connection.close()


def _checked_out(database: Database) -> int:
    pool: QueuePool = database.engine.pool  # type: ignore[assignment]
    return pool.checkedout()


def _checkouts(engine: Engine) -> list[int]:
    taken: list[int] = []
    event.listen(engine, "checkout", lambda *_: taken.append(1))
    return taken


def test_transactions_share_one_connection_and_commit(database: Database) -> None:
    kept = KeptConnection(database.sessions)
    checkouts = _checkouts(database.engine)
    backends = set()
    for body in ("a", "b", "c"):
        with kept.transaction() as session:
            backends.add(sql(session, BACKEND).scalar_one())
            sql(session, INSERT, {"id": str(uuid.uuid4()), "body": body})
    assert len(checkouts) == 1, "one checkout for three transactions"
    assert len(backends) == 1
    with database.sessions() as other:  # another connection sees every commit
        assert sql(other, COUNT).scalar_one() == 3
    kept.release()


def test_a_connection_the_server_closed_while_idle_is_replaced(
    database: Database, admin: psycopg2.extensions.connection
) -> None:
    kept = KeptConnection(database.sessions)
    with kept.transaction() as session:
        first = sql(session, BACKEND).scalar_one()
    with admin.cursor() as cursor:  # what a database restart does to an idle connection
        cursor.execute("SELECT pg_terminate_backend(%s)", (first,))
    _wait_gone(admin, first)
    with kept.transaction() as session:  # no error: a new connection serves it
        second = sql(session, BACKEND).scalar_one()
        sql(session, INSERT, {"id": str(uuid.uuid4()), "body": "after"})
    assert second != first
    with database.sessions() as other:
        assert sql(other, COUNT).scalar_one() == 1
    kept.release()


def test_a_failed_transaction_is_undone_and_gives_its_connection_back(
    database: Database,
) -> None:
    kept = KeptConnection(database.sessions)
    checkouts = _checkouts(database.engine)
    with pytest.raises(RuntimeError), kept.transaction() as session:
        sql(session, INSERT, {"id": str(uuid.uuid4()), "body": "undone"})
        raise RuntimeError("handler failed")
    assert _checked_out(database) == 0, "the connection went back to the pool"
    with kept.transaction() as session:
        assert sql(session, COUNT).scalar_one() == 0
    assert len(checkouts) == 2
    kept.release()
    assert _checked_out(database) == 0


def test_queued_statements_and_commit_hooks_work_as_on_any_session(database: Database) -> None:
    heard: list[list[str]] = []
    on_commit_of(database.sessions, "notes", heard.append)
    kept = KeptConnection(database.sessions)
    ids = [str(uuid.uuid4()) for _ in range(2)]
    with kept.transaction() as session:  # prepares the insert on the kept connection
        sql(session, INSERT, {"id": ids[0], "body": "first"})
    with kept.transaction() as session:
        sql_later(session, INSERT, {"id": ids[1], "body": "queued"})
        note_for_commit(session, "notes", "second")
    assert heard == [["second"]]
    with pytest.raises(RuntimeError), kept.transaction() as session:
        sql_later(session, INSERT, {"id": str(uuid.uuid4()), "body": "dropped"})
        note_for_commit(session, "notes", "dropped")
        raise RuntimeError("rolled back")
    assert heard == [["second"]], "a rolled back transaction calls nobody"
    with kept.transaction() as session:
        assert sql(session, COUNT).scalar_one() == 2, "the queued insert committed, the dropped not"
    kept.release()


def test_the_connection_goes_back_after_hold_seconds(database: Database) -> None:
    kept = KeptConnection(database.sessions, hold_seconds=0.0)
    checkouts = _checkouts(database.engine)
    for _ in range(3):
        with kept.transaction() as session:
            sql(session, COUNT)
    assert len(checkouts) == 3
    kept.release()


def _wait_gone(admin: psycopg2.extensions.connection, pid: int) -> None:
    """pg_terminate_backend signals the backend; wait until it has exited."""

    def gone() -> bool:
        with admin.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
            row = cursor.fetchone()
        return row is not None and row[0] == 0

    wait_for(gone, timeout=10, what=f"backend {pid} gone")


def test_each_transaction_takes_its_own_aggregate_locks(database: Database) -> None:
    """The session outlives its transactions; what it notes per transaction must not."""
    kept = KeptConnection(database.sessions)
    held = []
    for _ in range(2):
        with kept.transaction() as session:
            lock_aggregate(session, "order", "o-1")
            held.append(sql(session, ADVISORY_LOCKS_HELD).scalar_one())
    assert held == [1, 1]
    kept.release()
