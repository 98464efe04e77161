"""What the order use cases need from persistence, as protocols: the SQL implementations are in
adapters/repository.py, the in-memory fakes (for unit tests of the rules) in adapters/memory.py,
and one contract test suite runs against both."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from contracts.events import ProductCreated, ProductUpdated
from order_service.domain.model import Order, Price
from servicekit.messaging.unit_of_work import UnitOfWorkPort


@dataclass(frozen=True, slots=True)
class IdempotentOrder:
    """The order an Idempotency-Key made, and what the request that made it looked like."""

    order_id: str
    status: str
    fingerprint: str


class Orders(Protocol):
    """The orders, one aggregate each."""

    def add(self, order: Order, *, idempotency_key: str | None, fingerprint: str) -> None:
        """Store a new order, taking its aggregate lock first. DuplicateIdempotencyKey when a
        concurrent request with the same key stored its order first."""
        ...

    def get_for_update(self, order_id: str) -> Order | None:
        """The order, locked (aggregate lock, then row lock) until the end of the work."""
        ...

    def save(self, order: Order) -> None:
        """Write the order's changed state."""
        ...

    def by_idempotency_key(self, customer_id: str, key: str) -> IdempotentOrder | None:
        """The order this customer's Idempotency-Key made, if any."""
        ...

    def due_for_timeout(self, limit: int) -> list[str]:
        """Open orders past their saga deadline, oldest deadline first."""
        ...


class Catalog(Protocol):
    """The read model of product_service's catalog (prices and currencies)."""

    def prices(self, product_ids: Iterable[str]) -> dict[str, Price]:
        """(unit price, currency) of each product the read model knows."""
        ...

    def remember(self, product: ProductCreated | ProductUpdated) -> None:
        """Insert or update one product."""
        ...


class Timeline(Protocol):
    """The saga steps of each order, as customers see them."""

    def record(self, order_id: str, event_type: str, event_id: str | None) -> None:
        """One step, written with the work (every step of a unit of work in one statement)."""
        ...


class DuplicateIdempotencyKey(Exception):
    """A concurrent request with the same Idempotency-Key stored its order first."""


class OrderUnitOfWork(UnitOfWorkPort, Protocol):
    """What every order use case works with."""

    @property
    def orders(self) -> Orders:
        """The orders."""
        ...

    @property
    def catalog(self) -> Catalog:
        """The catalog read model."""
        ...

    @property
    def timeline(self) -> Timeline:
        """The orders' timelines."""
        ...
