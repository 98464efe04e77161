"""What the product use cases need from persistence, as protocols: the SQL implementations are in
adapters/repository.py and adapters/reservations.py, the in-memory fakes (for unit tests of the
rules) in adapters/memory.py, and one contract test suite runs against both."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

from product_service.domain.category import Category
from product_service.domain.product import Product
from product_service.domain.reservation import Reservation, StockLevel
from servicekit.messaging.unit_of_work import UnitOfWorkPort


class Products(Protocol):
    """The catalog, one aggregate per product."""

    def add(self, product: Product) -> None:
        """Store a new product, taking its aggregate lock first; SkuTaken when another product
        has its SKU (case-insensitively), UnknownCategory when its category does not exist (one
        that does is kept from deletion until the end of the work)."""
        ...

    def get_for_update(self, product_id: str) -> Product | None:
        """The product, archived or not, locked (aggregate lock, then row lock) until the end
        of the work."""
        ...

    def save(self, product: Product) -> None:
        """Write the product's changed fields, stock, category and archive, and the adjustments
        it recorded; UnknownCategory as for add."""
        ...


class Categories(Protocol):
    """The categories of the catalog, one aggregate each."""

    def add(self, category: Category) -> None:
        """Store a new category, taking its aggregate lock first; SlugTaken when another
        category has its slug (also when both are added at once: the loser gets SlugTaken)."""
        ...

    def get_for_update(self, category_id: str) -> Category | None:
        """The category, locked (aggregate lock, then row lock) until the end of the work: no
        product can join it meanwhile."""
        ...

    def products_in(self, category_id: str) -> int:
        """How many products are in the category, archived ones included."""
        ...

    def save(self, category: Category) -> None:
        """Write the category's name and description."""
        ...

    def remove(self, category: Category) -> None:
        """Delete the category (loaded for update, and empty)."""
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
        (their stock must be locked already: stock_to_reserve). A FAILED or VOIDED one holds
        nothing; a VOIDED one is added under the order's lock (get_for_update found none)."""
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
    def categories(self) -> Categories:
        """The catalog's categories."""
        ...

    @property
    def reservations(self) -> Reservations:
        """The stock reservations."""
        ...


# A unit of work that owns its transaction: commits when the block ends normally (commands).
UnitOfWorkFactory = Callable[[], AbstractContextManager[ProductUnitOfWork]]
