"""The profile reads (user_service/views.py) on PostgreSQL: one profile as the API shows it,
pages oldest first with the total, rows older versions wrote (addresses JSON null), and a
customer found by CPF (in full there; masked in the list)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from tests.support import scratch_database, sqlalchemy_url
from user_service import views

pytestmark = pytest.mark.integration


@pytest.fixture
def session(engines: None) -> Iterator[Session]:
    with scratch_database("user_views", migrations="user_service") as url:
        engine = create_engine(sqlalchemy_url(url))
        with sessionmaker(engine)() as session:
            yield session
        engine.dispose()


def add(session: Session, name: str, seconds_ago: int, addresses: str = "[]") -> str:
    user_id = str(uuid.uuid4())
    session.execute(
        text(
            "INSERT INTO profiles (user_id, email, full_name, addresses, created_at)"
            " VALUES (:u, :e, :n, CAST(:a AS jsonb), now() - make_interval(secs => :s))"
        ),
        {"u": user_id, "e": f"{name}@example.com", "n": name, "a": addresses, "s": seconds_ago},
    )
    session.commit()
    return user_id


def test_one_profile_as_the_api_shows_it(session: Session) -> None:
    user_id = add(session, "ann", 10, addresses="null")
    assert views.get_profile(session, user_id) == {
        "user_id": user_id,
        "email": "ann@example.com",
        "full_name": "ann",
        "phone": None,
        "addresses": [],
        "national_id": None,
        "notification_channels": ["email"],
        "roles": ["customer"],
        "guest": False,
    }
    assert views.get_profile(session, str(uuid.uuid4())) is None


def test_pages_are_oldest_first_with_the_total(session: Session) -> None:
    ids = [add(session, name, seconds) for name, seconds in (("b", 20), ("a", 30), ("c", 10))]
    first, total = views.list_profiles(session, page=1, size=2)
    second, _ = views.list_profiles(session, page=2, size=2)
    assert total == 3
    assert [p["full_name"] for p in first + second] == ["a", "b", "c"]
    assert {p["user_id"] for p in first + second} == set(ids)


def test_a_customer_is_found_by_cpf_which_the_list_masks(session: Session) -> None:
    ann, bob = add(session, "ann", 20), add(session, "bob", 10)
    session.execute(
        text("UPDATE profiles SET national_id = '12345678909' WHERE user_id = :u"), {"u": ann}
    )
    session.commit()
    found, total = views.list_profiles(session, page=1, size=20, national_id="12345678909")
    assert (total, [p["user_id"] for p in found]) == (1, [ann])
    assert found[0]["national_id"] == "12345678909"
    assert views.list_profiles(session, page=2, size=20, national_id="12345678909") == ([], 1)
    assert views.list_profiles(session, page=1, size=20, national_id="52998224725") == ([], 0)
    listed, _ = views.list_profiles(session, page=1, size=20)
    assert {p["user_id"]: p["national_id"] for p in listed} == {ann: "***.456.789-**", bob: None}
    assert views.get_profile(session, ann)["national_id"] == "12345678909"  # type: ignore[index]
