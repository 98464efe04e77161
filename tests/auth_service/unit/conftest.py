"""Fixtures of the auth unit tests (harness.py has the service on its fakes)."""

from __future__ import annotations

import pytest

from auth_service.adapters.memory import AuthStore, InMemoryAuthUnitOfWork, KeptKey
from auth_service.application.signing_keys import ensure_signing_key
from servicekit.messaging.unit_of_work import Cause
from tests.auth_service.unit.harness import KEK, Auth


@pytest.fixture(scope="session")
def signing_keys() -> dict[str, KeptKey]:
    """One signing key, made once: generating RSA keys is the slow part."""
    store = AuthStore()
    with InMemoryAuthUnitOfWork(store, Cause("setup")) as uow:
        ensure_signing_key(uow.signing_keys, KEK)
    return store.signing_keys


@pytest.fixture
def auth(signing_keys: dict[str, KeptKey]) -> Auth:
    """The service on fresh fakes, with the one signing key."""
    return Auth(signing_keys)
