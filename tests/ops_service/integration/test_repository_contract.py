"""One contract for the replay records, run against PostgreSQL (adapters/repository.py) and the
in-memory fakes (adapters/memory.py) the unit tests rely on: if the fakes drift from the
database's behaviour, this fails."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from ops_service import views
from ops_service.adapters.memory import InMemoryOpsUnitOfWork, ReplayStore
from ops_service.adapters.repository import SqlOpsUnitOfWork
from ops_service.application.ports import OpsUnitOfWork, Replay
from servicekit.messaging.unit_of_work import transaction
from tests.support import scratch_database, sqlalchemy_url

pytestmark = pytest.mark.integration

UnitOfWork = Callable[[], AbstractContextManager[OpsUnitOfWork]]
TOPIC = "order.events.dlq"


@pytest.fixture(params=["postgresql", "memory"])
def unit_of_work(request: pytest.FixtureRequest) -> Iterator[UnitOfWork]:
    if request.param == "memory":
        store = ReplayStore()
        yield lambda: InMemoryOpsUnitOfWork(store)
        return
    request.getfixturevalue("engines")
    with scratch_database("ops", migrations="ops_service") as url:
        engine = create_engine(sqlalchemy_url(url))
        yield lambda: transaction(sessionmaker(engine, expire_on_commit=False), SqlOpsUnitOfWork)
        engine.dispose()


def replay(at: datetime, *event_ids: str, topic: str = TOPIC) -> Replay:
    return Replay(str(uuid.uuid4()), "admin-1", at, topic, list(event_ids), len(event_ids) or 1)


def test_the_letters_a_replay_settled_are_known_as_replayed_with_its_time(
    unit_of_work: UnitOfWork,
) -> None:
    at = datetime(2026, 11, 29, 19, 0, tzinfo=UTC)
    with unit_of_work() as uow:
        uow.replays.add(replay(at, "e-1"), [(TOPIC, 2, 5), (TOPIC, 2, 6)])
        uow.replays.add(
            replay(at + timedelta(seconds=1), topic="a.events.dlq"), [("a.events.dlq", 0, 1)]
        )
    with unit_of_work() as uow:
        assert uow.replays.replayed([TOPIC]) == {(TOPIC, 2, 5): at, (TOPIC, 2, 6): at}
        assert set(uow.replays.replayed([TOPIC, "a.events.dlq"])) == {
            (TOPIC, 2, 5),
            (TOPIC, 2, 6),
            ("a.events.dlq", 0, 1),
        }
        assert uow.replays.replayed([]) == {}


def test_nothing_is_recorded_when_the_work_fails(unit_of_work: UnitOfWork) -> None:
    with pytest.raises(RuntimeError), unit_of_work() as uow:
        uow.replays.add(replay(datetime.now(UTC), "e-1"), [(TOPIC, 0, 1)])
        raise RuntimeError("Kafka did not acknowledge")
    with unit_of_work() as uow:
        assert uow.replays.replayed([TOPIC]) == {}


def test_a_letter_is_settled_by_one_replay_only(unit_of_work: UnitOfWork) -> None:
    with unit_of_work() as uow:
        uow.replays.add(replay(datetime.now(UTC), "e-1"), [(TOPIC, 0, 1)])
    with pytest.raises((IntegrityError, ValueError)), unit_of_work() as uow:
        uow.replays.add(replay(datetime.now(UTC), "e-1"), [(TOPIC, 0, 1)])


def test_the_replay_records_list_newest_first(engines: None) -> None:
    with scratch_database("ops", migrations="ops_service") as url:
        engine = create_engine(sqlalchemy_url(url))
        sessions = sessionmaker(engine, expire_on_commit=False)
        at = datetime(2026, 11, 29, 19, 0, tzinfo=UTC)
        older, newer = replay(at, "e-1", "e-2"), replay(at + timedelta(minutes=1), "e-3")
        with transaction(sessions, SqlOpsUnitOfWork) as uow:
            uow.replays.add(older, [(TOPIC, 0, 1)])
            uow.replays.add(newer, [(TOPIC, 0, 2)])
        with sessions() as session:
            listed = views.list_replays(session, limit=10)
            assert [row["replay_id"] for row in listed] == [newer.replay_id, older.replay_id]
            assert listed[1] == {
                "replay_id": older.replay_id,
                "replayed_by": "admin-1",
                "replayed_at": at,
                "topic": TOPIC,
                "event_ids": ["e-1", "e-2"],
                "count": 2,
            }
            assert len(views.list_replays(session, limit=1)) == 1
        engine.dispose()
