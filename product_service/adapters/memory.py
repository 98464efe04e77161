"""In-memory fakes of the product repositories and unit of work: the rules' unit tests run on
them in milliseconds, and the repository contract tests hold them to the SQL implementations'
behaviour (tests/product_service/integration/test_repository_contract.py)."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from typing import TypeVar

from product_service.domain.category import Category
from product_service.domain.errors import SkuTaken, SlugTaken, UnknownCategory
from product_service.domain.product import Product
from product_service.domain.reservation import Reservation, ReservationStatus, StockLevel
from servicekit.messaging.unit_of_work import Cause, InMemoryUnitOfWork

SETTLED = (ReservationStatus.COMMITTED, ReservationStatus.RELEASED)


@dataclass(frozen=True, slots=True)
class StoredAdjustment:
    """A stock_adjustments row."""

    product_id: str
    delta: int
    available: int
    adjusted_by: str
    correlation_id: str | None


@dataclass
class ProductStore:
    """What the fakes keep between units of work, as a database would; keyed by the canonical
    spelling of ids, as a uuid column compares them."""

    products: dict[str, Product] = field(default_factory=dict)
    categories: dict[str, Category] = field(default_factory=dict)
    reservations: dict[str, Reservation] = field(default_factory=dict)
    adjustments: list[StoredAdjustment] = field(default_factory=list)


def _key(value: str) -> str:
    """As ``::uuid`` reads an id (ValueError where the cast would fail)."""
    return str(uuid.UUID(value))


Aggregate = TypeVar("Aggregate", Product, Category, Reservation)


def _loaded(stored: Aggregate) -> Aggregate:
    """A copy, as a row read back would be: nothing recorded yet."""
    loaded = copy.deepcopy(stored)
    loaded.events = []
    return loaded


class InMemoryProducts:
    """Products in a dict; loads hand out copies, as rows would."""

    def __init__(self, uow: InMemoryProductUnitOfWork) -> None:
        self._uow = uow

    def add(self, product: Product) -> None:
        """See Products.add."""
        self._uow.lock(Product.aggregate_type, product.product_id)
        key = _key(product.product_id)
        skus = {p.sku.lower() for p in self._uow.all_products()}
        self._check_category(product.category_id)
        if product.sku.lower() in skus or self._uow.product(key) is not None:
            raise SkuTaken(product.sku)
        self._uow.pending_products[key] = product
        self._uow.track(product)

    def get_for_update(self, product_id: str) -> Product | None:
        """See Products.get_for_update."""
        self._uow.lock(Product.aggregate_type, product_id)
        stored = self._uow.product(_key(product_id))
        if stored is None:
            return None
        product = _loaded(stored)
        product.adjustments = []
        self._uow.track(product)
        return product

    def save(self, product: Product) -> None:
        """See Products.save."""
        key = _key(product.product_id)
        self._uow.pending_adjustments.extend(
            StoredAdjustment(
                key, item.delta, item.available, item.adjusted_by, self._uow.cause.correlation_id
            )
            for item in product.adjustments
        )
        self._check_category(product.category_id)
        product.adjustments.clear()
        stored = self._uow.working_product(key)
        # Orders move reserved and sold; a save writes what an admin changes.
        stored.name, stored.description, stored.price = (
            product.name,
            product.description,
            product.price,
        )
        stored.category_id, stored.archived_at = product.category_id, product.archived_at
        stored.stock = stored.stock.set_available(product.stock.available)

    def _check_category(self, category_id: str | None) -> None:
        if category_id is not None and self._uow.category(_key(category_id)) is None:
            raise UnknownCategory(category_id)


class InMemoryCategories:
    """Categories in a dict; loads hand out copies, as rows would."""

    def __init__(self, uow: InMemoryProductUnitOfWork) -> None:
        self._uow = uow

    def add(self, category: Category) -> None:
        """See Categories.add."""
        self._uow.lock(Category.aggregate_type, category.category_id)
        key = _key(category.category_id)
        slugs = {c.slug for c in self._uow.all_categories()}
        if category.slug in slugs or self._uow.category(key) is not None:
            raise SlugTaken(category.slug)
        self._uow.pending_categories[key] = category
        self._uow.track(category)

    def get_for_update(self, category_id: str) -> Category | None:
        """See Categories.get_for_update."""
        self._uow.lock(Category.aggregate_type, category_id)
        stored = self._uow.category(_key(category_id))
        if stored is None:
            return None
        category = _loaded(stored)
        category.category_id = category_id
        self._uow.track(category)
        return category

    def products_in(self, category_id: str) -> int:
        """See Categories.products_in."""
        key = _key(category_id)
        return sum(
            1
            for product in self._uow.all_products()
            if product.category_id is not None and _key(product.category_id) == key
        )

    def save(self, category: Category) -> None:
        """See Categories.save."""
        stored = _loaded(category)
        stored.category_id = _key(category.category_id)
        self._uow.pending_categories[stored.category_id] = stored

    def remove(self, category: Category) -> None:
        """See Categories.remove."""
        self._uow.pending_categories[_key(category.category_id)] = None


class InMemoryReservations:
    """Reservations in a dict, moving the stock of the products in the same store."""

    def __init__(self, uow: InMemoryProductUnitOfWork) -> None:
        self._uow = uow

    def stock_to_reserve(self, order_id: str, product_ids: list[str]) -> list[StockLevel] | None:
        """See Reservations.stock_to_reserve."""
        self._uow.lock(Reservation.aggregate_type, order_id)
        if self._uow.reservation(_key(order_id)) is not None:
            return None
        products = [self._uow.product(_key(pid)) for pid in product_ids]
        return [
            StockLevel(p.product_id, p.price, p.currency, p.stock.available, p.archived)
            for p in sorted((p for p in products if p is not None), key=lambda p: p.product_id)
        ]

    def add(self, reservation: Reservation) -> None:
        """See Reservations.add."""
        self._uow.lock(Reservation.aggregate_type, reservation.order_id)
        for line in reservation.lines if reservation.held else ():
            product = self._uow.working_product(_key(line.product_id))
            product.stock = product.stock.reserve(line.quantity)
        self._uow.pending_reservations[_key(reservation.order_id)] = reservation
        self._uow.track(reservation)

    def get_for_update(self, order_id: str) -> Reservation | None:
        """See Reservations.get_for_update."""
        self._uow.lock(Reservation.aggregate_type, order_id)
        stored = self._uow.reservation(_key(order_id))
        if stored is None:
            return None
        reservation = _loaded(stored)
        reservation.order_id = order_id
        # As the database reads them back: in product id order, and none once settled.
        held = sorted(reservation.lines, key=lambda line: line.product_id)
        reservation.lines = tuple(held) if reservation.held else ()
        self._uow.track(reservation)
        return reservation

    def save(self, reservation: Reservation) -> None:
        """See Reservations.save."""
        if reservation.status not in SETTLED:
            raise ValueError(f"a {reservation.status} reservation is not a settled one")
        key = _key(reservation.order_id)
        stored = self._uow.reservation(key)
        for line in stored.lines if stored is not None else ():
            product = self._uow.working_product(_key(line.product_id))
            if reservation.status == ReservationStatus.COMMITTED:
                product.stock = product.stock.commit(line.quantity)
            else:
                product.stock = product.stock.release(line.quantity)
        self._uow.pending_reservations[key] = reservation


class InMemoryProductUnitOfWork(InMemoryUnitOfWork):
    """The product unit of work on a ProductStore: changes reach the store only on commit."""

    def __init__(self, store: ProductStore | None = None, cause: Cause | None = None) -> None:
        super().__init__(cause)
        self.store = store or ProductStore()
        self.pending_products: dict[str, Product] = {}
        # None: deleted by this unit of work.
        self.pending_categories: dict[str, Category | None] = {}
        self.pending_reservations: dict[str, Reservation] = {}
        self.pending_adjustments: list[StoredAdjustment] = []
        self.products = InMemoryProducts(self)
        self.categories = InMemoryCategories(self)
        self.reservations = InMemoryReservations(self)

    def product(self, key: str) -> Product | None:
        """A product as this unit of work sees it (its own changes first)."""
        return self.pending_products.get(key) or self.store.products.get(key)

    def all_products(self) -> list[Product]:
        """Every product as this unit of work sees it."""
        return list({**self.store.products, **self.pending_products}.values())

    def category(self, key: str) -> Category | None:
        """A category as this unit of work sees it (its own changes first)."""
        if key in self.pending_categories:
            return self.pending_categories[key]
        return self.store.categories.get(key)

    def all_categories(self) -> list[Category]:
        """Every category as this unit of work sees it."""
        merged = {**self.store.categories, **self.pending_categories}
        return [category for category in merged.values() if category is not None]

    def working_product(self, key: str) -> Product:
        """The product this unit of work changes, copied from the store on first use."""
        if key not in self.pending_products:
            self.pending_products[key] = _loaded(self.store.products[key])
        return self.pending_products[key]

    def reservation(self, key: str) -> Reservation | None:
        """A reservation as this unit of work sees it."""
        return self.pending_reservations.get(key) or self.store.reservations.get(key)

    def _commit(self) -> None:
        super()._commit()
        for key, product in self.pending_products.items():
            self.store.products[key] = _loaded(product)
        for key, category in self.pending_categories.items():
            if category is None:
                self.store.categories.pop(key, None)
            else:
                self.store.categories[key] = _loaded(category)
        for key, reservation in self.pending_reservations.items():
            self.store.reservations[key] = _loaded(reservation)
        self.store.adjustments.extend(self.pending_adjustments)
        self.rollback()

    def rollback(self) -> None:
        """Forget what was not committed."""
        super().rollback()
        self.pending_products.clear()
        self.pending_categories.clear()
        self.pending_reservations.clear()
        self.pending_adjustments.clear()
