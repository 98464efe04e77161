"""What the product use cases need from persistence, as protocols: the SQL implementations are in
adapters/repository.py and adapters/reservations.py, the in-memory fakes (for unit tests of the
rules) in adapters/memory.py, and one contract test suite runs against both."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

from product_service.domain.product import Product
from product_service.domain.reservation import Reservation, StockLevel
from servicekit.messaging.unit_of_work import UnitOfWorkPort


class Products(Protocol):
    """The catalog, one aggregate per product."""

    def add(self, product: Product) -> None:
        """Store a new product, taking its aggregate lock first; SkuTaken when another product
        has its SKU (case-insensitively)."""
        ...

    def get_for_update(self, product_id: str) -> Product | None:
        """The product, locked (aggregate lock, then row lock) until the end of the work."""
        ...

    def save(self, product: Product) -> None:
        """Write the product's changed fields and stock, and the adjustments it recorded."""
        ...


class Reservations(Protocol):
    """One reservation per order that asked for stock, and the stock it moves.

    Product stock is locked in product id order, the one order every writer uses, before any of
    it changes: concurrent orders over the same products queue up instead of deadlocking.
    """

    def stock_to_reserve(self, order_id: str, product_ids: list[str]) -> list[StockLevel] | None:
        """Take the order's reservation lock; then the stock of those of ``product_ids`` that
        exist, locked in product id order. None, with no stock locked, when the order has a
        reservation already (whatever its status): an order reserves once."""
        ...

    def add(self, reservation: Reservation) -> None:
        """Store a new reservation; a RESERVED one moves its units from available to reserved
        (their stock must be locked already: stock_to_reserve)."""
        ...

    def get_for_update(self, order_id: str) -> Reservation | None:
        """The order's reservation, locked; while it holds stock, with its lines and their
        products' stock locked in product id order. None when the order has none."""
        ...

    def save(self, reservation: Reservation) -> None:
        """Write a reservation that was held and is now COMMITTED (its units sold) or RELEASED
        (its units available again)."""
        ...


class ProductUnitOfWork(UnitOfWorkPort, Protocol):
    """What every product use case works with."""

    @property
    def products(self) -> Products:
        """The catalog."""
        ...

    @property
    def reservations(self) -> Reservations:
        """The stock reservations."""
        ...


# A unit of work that owns its transaction: commits when the block ends normally (commands).
UnitOfWorkFactory = Callable[[], AbstractContextManager[ProductUnitOfWork]]
