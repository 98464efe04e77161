"""servicekit.db.sql against the real PostgreSQL: prepared once per connection, same results as
plain execution, and a statement PostgreSQL will not prepare still runs, in the same transaction."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError, MultipleResultsFound, NoResultFound, ResourceClosedError
from sqlalchemy.orm import Session, sessionmaker

from servicekit.db import note_for_commit, on_commit_of, queue_statements, sql, sql_later
from tests.support import sqlalchemy_url, wait_for

pytestmark = pytest.mark.integration

CREATE = """
CREATE TABLE items (id uuid PRIMARY KEY, name text NOT NULL, price numeric(12, 2) NOT NULL)
"""
INSERT = """
INSERT INTO items (id, name, price)
SELECT * FROM unnest(%(ids)s::uuid[], %(names)s::text[], %(prices)s::numeric[])
WHERE cardinality(%(ids)s::uuid[]) > 0
"""
BY_IDS = "SELECT name, price FROM items WHERE id = ANY(%(ids)s::uuid[]) ORDER BY name"
LIKE = "SELECT count(*) FROM items WHERE name LIKE %(prefix)s || '%%'"
RENAME = "UPDATE items SET name = %(name)s WHERE id = ANY(%(ids)s::uuid[])"


def _prepared_names(session: Session) -> set[str]:
    rows = session.execute(text("SELECT name FROM pg_prepared_statements"))
    return {row[0] for row in rows}


def test_statements_are_prepared_once_per_connection_and_answer_like_plain_sql(
    scratch_db: str,
) -> None:
    engine = create_engine(sqlalchemy_url(scratch_db), pool_size=1, max_overflow=0)
    ids = [str(uuid.uuid4()) for _ in range(3)]
    with Session(engine) as session, session.begin():
        session.execute(text(CREATE))
        sql(
            session,
            INSERT,
            {"ids": ids, "names": ["ant", "bee", "cat"], "prices": [Decimal("1.50")] * 3},
        )
        first = sql(session, BY_IDS, {"ids": ids[:2]}).all()
        again = sql(session, BY_IDS, {"ids": ids[1:]}).all()
        plain = session.execute(
            text("SELECT name, price FROM items WHERE id = ANY(:ids) ORDER BY name"),
            {"ids": [uuid.UUID(i) for i in ids[1:]]},
        ).all()
        like = sql(session, LIKE, {"prefix": "b"}).scalar_one()
        prepared = _prepared_names(session)
    assert [tuple(r) for r in first] == [("ant", Decimal("1.50")), ("bee", Decimal("1.50"))]
    assert [tuple(r) for r in again] == [tuple(r) for r in plain]
    assert like == 1, "a literal %% reaches PostgreSQL as %"
    assert len({n for n in prepared if n.startswith("sk_")}) == 3  # INSERT, BY_IDS, LIKE

    # The same pooled connection, a new transaction: prepared already, nothing added.
    with Session(engine) as session, session.begin():
        assert sql(session, BY_IDS, {"ids": ids}).all()
        assert _prepared_names(session) == prepared
    engine.dispose()


def test_a_statement_postgresql_will_not_prepare_still_runs_in_the_same_transaction(
    scratch_db: str,
) -> None:
    engine = create_engine(sqlalchemy_url(scratch_db))
    with Session(engine) as session, session.begin():
        session.execute(text(CREATE))
        # The type of an untyped, unused-in-context parameter cannot be inferred: PREPARE fails.
        value = sql(session, "SELECT %(anything)s", {"anything": "still answered"}).scalar_one()
        item = str(uuid.uuid4())
        sql(session, INSERT, {"ids": [item], "names": ["dog"], "prices": [Decimal("2")]})
    with Session(engine) as session:
        count = session.execute(text("SELECT count(*) FROM items")).scalar_one()
    assert value == "still answered"
    assert count == 1, "the refused PREPARE must not have aborted the transaction"
    engine.dispose()


def test_pooled_connections_the_server_ended_are_replaced_without_an_error(
    scratch_db: str,
) -> None:
    """What a PostgreSQL restart does to a service's pool: every idle connection's backend is
    gone. The next checkouts get fresh connections; no request sees the dead ones."""
    import psycopg2

    from devstack import layout
    from servicekit.db import Database

    database = Database(sqlalchemy_url(scratch_db), pool_size=2, max_overflow=0)
    try:
        with database.sessions() as first, first.begin():
            pids = {sql(first, "SELECT pg_backend_pid()").scalar_one()}
            with database.sessions() as second, second.begin():
                pids.add(sql(second, "SELECT pg_backend_pid()").scalar_one())
        assert len(pids) == 2  # both pooled connections are idle now
        admin = psycopg2.connect(layout.admin_url("postgres"))
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (list(pids),)
            )

            # pg_terminate_backend only signals. A backend sends its FATAL message to the client
            # before it leaves pg_stat_activity, so once both are gone each pooled socket has
            # something to read: that is the state a restart leaves, and what the checkout sees.
            def backends_gone() -> bool:
                cur.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s::int[])",
                    (list(pids),),
                )
                row = cur.fetchone()
                return row is not None and row[0] == 0

            wait_for(backends_gone, what="the terminated backends to exit")
        admin.close()
        for _ in range(4):
            with database.sessions() as session, session.begin():
                pid = sql(session, "SELECT pg_backend_pid()").scalar_one()
                assert pid not in pids
    finally:
        database.dispose()


def test_rows_of_a_prepared_statement_read_like_sqlalchemys(scratch_db: str) -> None:
    engine = create_engine(sqlalchemy_url(scratch_db), pool_size=1, max_overflow=0)
    ids = [str(uuid.uuid4()) for _ in range(2)]
    with Session(engine) as session, session.begin():
        session.execute(text(CREATE))
        sql(session, INSERT, {"ids": ids, "names": ["ant", "bee"], "prices": [Decimal("2")] * 2})
        row = sql(session, BY_IDS, {"ids": ids}).first()
        assert row is not None
        assert (row.name, row[1], tuple(row)) == ("ant", Decimal("2.00"), ("ant", Decimal("2.00")))
        assert sql(session, BY_IDS, {"ids": ids}).mappings().all() == [
            {"name": "ant", "price": Decimal("2.00")},
            {"name": "bee", "price": Decimal("2.00")},
        ]
        assert [r.name for r in sql(session, BY_IDS, {"ids": ids})] == ["ant", "bee"]
        assert sql(session, BY_IDS, {"ids": ids[:1]}).one().name == "ant"
        assert sql(session, LIKE, {"prefix": "a"}).scalar() == 1
        assert sql(session, BY_IDS, {"ids": []}).first() is None
        assert sql(session, BY_IDS, {"ids": []}).one_or_none() is None
        with pytest.raises(NoResultFound):
            sql(session, BY_IDS, {"ids": []}).one()
        with pytest.raises(MultipleResultsFound):
            sql(session, BY_IDS, {"ids": ids}).scalar_one()
        renamed = sql(session, RENAME, {"ids": ids, "name": "cow"})
        assert renamed.rowcount == 2
        with pytest.raises(ResourceClosedError):
            renamed.first()  # an UPDATE without RETURNING has no rows, as with SQLAlchemy


def test_an_error_of_a_prepared_statement_is_sqlalchemys_and_queued_writes_go_first(
    scratch_db: str,
) -> None:
    engine = create_engine(sqlalchemy_url(scratch_db), pool_size=1, max_overflow=0)
    queue_statements(engine)
    item = str(uuid.uuid4())
    with Session(engine) as session, session.begin():
        session.execute(text(CREATE))
    with Session(engine) as session, session.begin():
        sql(session, INSERT, {"ids": [item], "names": ["ant"], "prices": [Decimal("1")]})
        sql(session, RENAME, {"ids": [item], "name": "warm"})  # prepared on this connection
        sql_later(session, RENAME, {"ids": [item], "name": "bee"})
        assert sql(session, BY_IDS, {"ids": [item]}).scalars() == ["bee"]  # sent with the read
    with Session(engine) as session:
        session.begin()
        with pytest.raises(IntegrityError) as raised:
            sql(session, INSERT, {"ids": [item], "names": ["dup"], "prices": [Decimal("1")]})
        assert raised.value.orig.pgcode == "23505"
        session.rollback()
        assert sql(session, BY_IDS, {"ids": [item]}).scalars() == ["bee"]


def test_what_a_transaction_noted_reaches_every_callback_of_its_key_once_it_commits(
    scratch_db: str,
) -> None:
    sessions = sessionmaker(create_engine(sqlalchemy_url(scratch_db)))
    email: list[list[str]] = []
    sms: list[list[str]] = []
    calls: list[list[int]] = []
    on_commit_of(sessions, "queued", email.append)
    on_commit_of(sessions, "queued", sms.append)
    on_commit_of(sessions, "calls", calls.append)
    with pytest.raises(RuntimeError), sessions() as session, session.begin():
        note_for_commit(session, "queued", "rolled back")
        raise RuntimeError("rolled back")
    with sessions() as session, session.begin():
        note_for_commit(session, "queued", "email")
        note_for_commit(session, "queued", "sms")
        session.execute(text("SELECT 1"))
        assert email == []  # not before the commit
    with sessions() as session, session.begin():
        note_for_commit(session, "calls", 1)
    assert email == sms == [["email", "sms"]]
    assert calls == [[1]]
