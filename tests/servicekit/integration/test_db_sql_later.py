"""servicekit.db.sql_later against the real PostgreSQL: queued statements travel with the next
statement (or the COMMIT) in one round trip, run in the order written and before anything else
on the connection, fail the transaction like any statement, and vanish with a rollback."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from servicekit.db import queue_statements, sql, sql_later
from tests.support import sqlalchemy_url

pytestmark = pytest.mark.integration

INSERT = "INSERT INTO notes (id, body) VALUES (%(id)s::uuid, %(body)s)"
COUNT = "SELECT count(*) FROM notes"
BODIES = "SELECT body FROM notes ORDER BY seq"


@pytest.fixture
def engine(scratch_db: str) -> Iterator[Engine]:
    engine = create_engine(sqlalchemy_url(scratch_db), pool_size=1, max_overflow=0)
    queue_statements(engine)
    with Session(engine) as session, session.begin():
        session.execute(
            text("CREATE TABLE notes (seq bigserial, id uuid PRIMARY KEY, body text NOT NULL)")
        )
        # Prepared on the one pooled connection: sql_later only queues what is prepared.
        sql(session, INSERT, {"id": str(uuid.uuid4()), "body": "first"})
        sql(session, COUNT)
        session.execute(text("TRUNCATE notes"))
    yield engine
    engine.dispose()


def _round_trips(engine: Engine) -> list[str]:
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    return sent


def test_queued_writes_go_with_the_next_statement_in_order(engine: Engine) -> None:
    sent = _round_trips(engine)
    with Session(engine) as session, session.begin():
        for body in ("a", "b%", "c'"):
            sql_later(session, INSERT, {"id": str(uuid.uuid4()), "body": body})
        assert sent == [], "nothing is sent while statements are only queued"
        assert sql(session, COUNT).scalar_one() == 3
        assert len(sent) == 1, "three writes and the read in one round trip"
        assert [row[0] for row in sql(session, BODIES)] == ["a", "b%", "c'"]


def test_any_other_statement_and_the_commit_send_the_queue_first(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        sql_later(session, INSERT, {"id": str(uuid.uuid4()), "body": "x"})
        assert session.execute(text("SELECT count(*) FROM notes")).scalar_one() == 1
        sql_later(session, INSERT, {"id": str(uuid.uuid4()), "body": "y"})
    with Session(engine) as session:
        assert [row[0] for row in sql(session, BODIES)] == ["x", "y"]


def test_a_rollback_drops_the_queue(engine: Engine) -> None:
    with Session(engine) as session:
        session.begin()
        sql_later(session, INSERT, {"id": str(uuid.uuid4()), "body": "gone"})
        session.rollback()
        with session.begin():
            sql_later(session, INSERT, {"id": str(uuid.uuid4()), "body": "kept"})
    with Session(engine) as session:
        assert [row[0] for row in sql(session, BODIES)] == ["kept"]


def test_a_queued_statement_that_fails_fails_the_commit_and_writes_nothing(
    engine: Engine,
) -> None:
    same = str(uuid.uuid4())
    with pytest.raises(IntegrityError), Session(engine) as session, session.begin():
        sql_later(session, INSERT, {"id": same, "body": "one"})
        sql_later(session, INSERT, {"id": same, "body": "two"})
    with Session(engine) as session:
        assert sql(session, COUNT).scalar_one() == 0
    # The pooled connection is usable again.
    with Session(engine) as session, session.begin():
        sql_later(session, INSERT, {"id": same, "body": "three"})
    with Session(engine) as session:
        assert [row[0] for row in sql(session, BODIES)] == ["three"]


def test_without_queue_statements_an_engine_runs_them_at_once(scratch_db: str) -> None:
    plain = create_engine(sqlalchemy_url(scratch_db), pool_size=1, max_overflow=0)
    try:
        with Session(plain) as session, session.begin():
            session.execute(
                text("CREATE TABLE notes (seq bigserial, id uuid PRIMARY KEY, body text)")
            )
            sql(session, INSERT, {"id": str(uuid.uuid4()), "body": "prepared"})
            sent = _round_trips(plain)
            sql_later(session, INSERT, {"id": str(uuid.uuid4()), "body": "now"})
            assert len(sent) == 1
    finally:
        plain.dispose()
