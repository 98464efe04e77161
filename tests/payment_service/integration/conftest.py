"""The payment integration tests' database: a scratch one, migrated, per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from tests.support import scratch_database, sqlalchemy_url


@pytest.fixture
def sessions(engines: None) -> Iterator[sessionmaker[Session]]:
    """Sessions on a scratch payment_service database."""
    with scratch_database("pay", migrations="payment_service") as url:
        engine = create_engine(sqlalchemy_url(url))
        yield sessionmaker(engine, expire_on_commit=False)
        engine.dispose()
