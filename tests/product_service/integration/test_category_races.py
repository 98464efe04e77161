"""Categories under concurrent writers on the real PostgreSQL, each race staged step by step: the
first writer holds its transaction open, the second is seen waiting on its lock, then the first
commits. Two admins adding one slug: the second gets SlugTaken (409), never a database error.
A deletion and a product joining the category: whichever comes first wins, and the other gets
its refusal (CategoryNotEmpty, 409, or UnknownCategory, 422), never a foreign key error."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from typing import TypeVar

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from product_service.adapters.repository import SqlProductUnitOfWork
from product_service.application import commands
from product_service.domain.errors import CategoryNotEmpty, SlugTaken, UnknownCategory
from servicekit.messaging.unit_of_work import run, transaction
from tests.support import scratch_database, sqlalchemy_url, wait_for

pytestmark = pytest.mark.integration

T = TypeVar("T")


@pytest.fixture
def engine(engines: None) -> Iterator[Engine]:
    with scratch_database("product_races", migrations="product_service") as libpq_url:
        # A lock wait this long means a bug, not load.
        engine = create_engine(
            sqlalchemy_url(libpq_url), connect_args={"options": "-c lock_timeout=20000"}
        )
        yield engine
        engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def in_thread(
    sessions: sessionmaker[Session], work: Callable[[SqlProductUnitOfWork], T]
) -> Future[T]:
    """``work`` in its own transaction on another thread."""
    executor = ThreadPoolExecutor(max_workers=1)
    future = executor.submit(run, sessions, SqlProductUnitOfWork, work)
    executor.shutdown(wait=False)
    return future


def wait_until_blocked(engine: Engine) -> None:
    """Until a session of this database waits on a lock (the second writer)."""

    def blocked() -> bool:
        with engine.connect() as conn:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        return int(waiting) > 0

    wait_for(blocked, timeout=20, what="the second writer waiting on a lock")


def create_category(slug: str) -> commands.CreateCategory:
    return commands.CreateCategory(name="Bebidas", slug=slug, description=None)


def create_product(category_id: str) -> commands.CreateProduct:
    return commands.CreateProduct(
        sku=f"SKU-{uuid.uuid4().hex[:10]}",
        name="Cup",
        description=None,
        price=Decimal("1"),
        currency="EUR",
        stock=1,
        category_id=category_id,
    )


def count(engine: Engine, sql: str, **params: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def test_of_two_admins_adding_one_slug_the_second_gets_slug_taken(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    slug = f"bebidas-{uuid.uuid4().hex[:8]}"
    with transaction(sessions, SqlProductUnitOfWork) as first:
        commands.create_category(create_category(slug), first)
        second = in_thread(
            sessions, lambda uow: commands.create_category(create_category(slug), uow)
        )
        wait_until_blocked(engine)
    with pytest.raises(SlugTaken, match=slug):
        second.result(timeout=30)
    assert count(engine, "SELECT count(*) FROM categories WHERE slug = :s", s=slug) == 1
    assert count(engine, "SELECT count(*) FROM outbox WHERE event_type = 'category.created'") == 1


def test_a_deletion_waits_for_a_product_joining_first_and_is_refused(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    category = run(
        sessions,
        SqlProductUnitOfWork,
        lambda uow: commands.create_category(create_category("cha"), uow),
    )
    delete = commands.DeleteCategory(category.category_id)
    with transaction(sessions, SqlProductUnitOfWork) as joining:
        commands.create_product(create_product(category.category_id), joining)
        deletion = in_thread(sessions, lambda uow: commands.delete_category(delete, uow))
        wait_until_blocked(engine)
    with pytest.raises(CategoryNotEmpty, match="1 product"):
        deletion.result(timeout=30)
    assert count(engine, "SELECT count(*) FROM categories") == 1
    assert count(engine, "SELECT count(*) FROM products WHERE category_id IS NOT NULL") == 1
    assert count(engine, "SELECT count(*) FROM outbox WHERE event_type = 'category.deleted'") == 0


def test_a_product_joining_after_a_deletion_began_finds_no_category(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    category = run(
        sessions,
        SqlProductUnitOfWork,
        lambda uow: commands.create_category(create_category("cafe"), uow),
    )
    with transaction(sessions, SqlProductUnitOfWork) as deleting:
        commands.delete_category(commands.DeleteCategory(category.category_id), deleting)
        joining = in_thread(
            sessions,
            lambda uow: commands.create_product(create_product(category.category_id), uow),
        )
        wait_until_blocked(engine)
    with pytest.raises(UnknownCategory, match=category.category_id):
        joining.result(timeout=30)
    assert count(engine, "SELECT count(*) FROM categories") == 0
    assert count(engine, "SELECT count(*) FROM products") == 0
    assert count(engine, "SELECT count(*) FROM outbox WHERE event_type = 'product.created'") == 0
