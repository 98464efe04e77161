"""The repository contract's harness fixture, for every contract module of this folder."""

from tests.notification_service.integration.test_repository_contract import (
    harness,  # noqa: F401 - parametrized over PostgreSQL and the in-memory fakes
)
