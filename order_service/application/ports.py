"""What the order use cases need from persistence, as protocols: the SQL implementations are in
adapters/repository.py, the in-memory fakes (for unit tests of the rules) in adapters/memory.py,
and one contract test suite runs against both."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from contracts.events import CategoryCreated, CategoryUpdated, ProductCreated, ProductUpdated
from order_service.domain.model import Order
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


@dataclass(frozen=True, slots=True)
class CatalogProduct:
    """A product as the catalog read model knows it."""

    price: Decimal
    currency: str
    category_id: str | None
    archived: bool


@dataclass(frozen=True, slots=True)
class Category:
    """A category as the read model knows it."""

    category_id: str
    name: str
    slug: str
    description: str | None


class Catalog(Protocol):
    """The read model of product_service's catalog (prices, currencies, categories, archive)."""

    def products(self, product_ids: Iterable[str]) -> dict[str, CatalogProduct]:
        """Each product the read model knows, archived ones included."""
        ...

    def remember(self, product: ProductCreated | ProductUpdated) -> None:
        """Insert or update one product (an archived one stays archived)."""
        ...

    def archive(self, product_id: str, archived_at: datetime) -> bool:
        """Mark a product archived; False when the read model does not know it."""
        ...


class Categories(Protocol):
    """The read model of product_service's categories."""

    def remember(self, category: CategoryCreated | CategoryUpdated) -> None:
        """Insert or update one category."""
        ...

    def forget(self, category_id: str) -> None:
        """A deleted category is gone (its products keep their category_id)."""
        ...

    def get(self, category_id: str) -> Category | None:
        """One category, if known."""
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
    def categories(self) -> Categories:
        """The categories read model."""
        ...

    @property
    def timeline(self) -> Timeline:
        """The orders' timelines."""
        ...
