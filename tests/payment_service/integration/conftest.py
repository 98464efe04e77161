"""The payment integration tests' database: a scratch one, migrated, per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.support import scratch_sessions


@pytest.fixture
def sessions(engines: None) -> Iterator[sessionmaker[Session]]:
    """Sessions on a scratch payment_service database."""
    with scratch_sessions("pay", migrations="payment_service") as sessions:
        yield sessions
