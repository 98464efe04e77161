"""In-memory fakes of the order repositories and unit of work: the rules' unit tests run on
them in milliseconds, and the repository contract tests hold them to the SQL implementations'
behaviour (tests/order_service/integration/test_repository_contract.py)."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from contracts.events import CategoryCreated, CategoryUpdated, ProductCreated, ProductUpdated
from order_service.application.ports import (
    CatalogProduct,
    Category,
    DuplicateIdempotencyKey,
    IdempotentOrder,
)
from order_service.application.timeline import step
from order_service.domain.model import Order
from order_service.domain.statuses import OPEN
from servicekit.messaging.unit_of_work import Cause, InMemoryUnitOfWork, Published


@dataclass
class OrderStore:
    """What the fakes keep between units of work, as a database would."""

    orders: dict[str, Order] = field(default_factory=dict)
    keys: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)  # -> id, hash
    products: dict[str, CatalogProduct] = field(default_factory=dict)
    categories: dict[str, Category] = field(default_factory=dict)
    timeline: list[dict[str, object]] = field(default_factory=list)


class InMemoryOrders:
    """Orders in a dict; loads hand out copies, as rows would."""

    def __init__(self, store: OrderStore, uow: InMemoryOrderUnitOfWork) -> None:
        self._store = store
        self._uow = uow

    def add(self, order: Order, *, idempotency_key: str | None, fingerprint: str) -> None:
        """See Orders.add."""
        self._uow.lock("order", order.order_id)
        if idempotency_key is not None:
            key = (order.customer_id, idempotency_key)
            if key in self._store.keys or key in self._uow.pending_keys:
                raise DuplicateIdempotencyKey(idempotency_key)
            self._uow.pending_keys[key] = (order.order_id, fingerprint)
        order.placed_at = order.placed_at or datetime.now(UTC)
        self._uow.pending[order.order_id] = order
        self._uow.track(order)

    def get_for_update(self, order_id: str) -> Order | None:
        """See Orders.get_for_update."""
        self._uow.lock("order", order_id)
        stored = self._uow.pending.get(order_id) or self._store.orders.get(order_id)
        if stored is None:
            return None
        order = copy.deepcopy(stored)
        order.events = []
        self._uow.track(order)
        return order

    def save(self, order: Order) -> None:
        """See Orders.save."""
        self._uow.pending[order.order_id] = order

    def by_idempotency_key(self, customer_id: str, key: str) -> IdempotentOrder | None:
        """See Orders.by_idempotency_key."""
        found = self._uow.pending_keys.get((customer_id, key)) or self._store.keys.get(
            (customer_id, key)
        )
        if found is None:
            return None
        order_id, fingerprint = found
        order = self._store.orders.get(order_id) or self._uow.pending[order_id]
        return IdempotentOrder(order_id, order.status.value, fingerprint)

    def due_for_timeout(self, limit: int) -> list[str]:
        """See Orders.due_for_timeout."""
        now = datetime.now(UTC)
        due = [
            order
            for order in self._store.orders.values()
            if order.status in OPEN and order.deadline_at is not None and order.deadline_at < now
        ]
        return [order.order_id for order in sorted(due, key=lambda o: o.deadline_at or now)][:limit]


class InMemoryCatalog:
    """The catalog read model in a dict."""

    def __init__(self, store: OrderStore) -> None:
        self._store = store

    def products(self, product_ids: Iterable[str]) -> dict[str, CatalogProduct]:
        """See Catalog.products."""
        return {
            pid: self._store.products[pid] for pid in product_ids if pid in self._store.products
        }

    def remember(self, product: ProductCreated | ProductUpdated) -> None:
        """See Catalog.remember."""
        known = self._store.products.get(product.product_id)
        self._store.products[product.product_id] = CatalogProduct(
            Decimal(product.price),
            product.currency,
            product.category_id,
            archived=known is not None and known.archived,
        )

    def archive(self, product_id: str, archived_at: datetime) -> bool:
        """See Catalog.archive."""
        known = self._store.products.get(product_id)
        if known is None:
            return False
        self._store.products[product_id] = dataclasses.replace(known, archived=True)
        return True


class InMemoryCategories:
    """The categories read model in a dict."""

    def __init__(self, store: OrderStore) -> None:
        self._store = store

    def remember(self, category: CategoryCreated | CategoryUpdated) -> None:
        """See Categories.remember."""
        self._store.categories[category.category_id] = Category(
            category.category_id, category.name, category.slug, category.description
        )

    def forget(self, category_id: str) -> None:
        """See Categories.forget."""
        self._store.categories.pop(category_id, None)

    def get(self, category_id: str) -> Category | None:
        """See Categories.get."""
        return self._store.categories.get(category_id)


class InMemoryTimeline:
    """Timeline steps in a list."""

    def __init__(self, uow: InMemoryOrderUnitOfWork) -> None:
        self._uow = uow

    def record(self, order_id: str, event_type: str, event_id: str | None) -> None:
        """See Timeline.record."""
        self._uow.steps.append(step(order_id, event_type, event_id))


class InMemoryOrderUnitOfWork(InMemoryUnitOfWork):
    """The order unit of work on an OrderStore: changes reach the store only on commit."""

    def __init__(self, store: OrderStore | None = None, cause: Cause | None = None) -> None:
        super().__init__(cause)
        self.store = store or OrderStore()
        self.pending: dict[str, Order] = {}
        self.pending_keys: dict[tuple[str, str], tuple[str, str]] = {}
        self.steps: list[dict[str, object]] = []
        self.orders = InMemoryOrders(self.store, self)
        self.catalog = InMemoryCatalog(self.store)
        self.categories = InMemoryCategories(self.store)
        self.timeline = InMemoryTimeline(self)

    def after_write(self, published: list[Published]) -> None:
        """Each published order event is a step of its order's timeline."""
        for item in published:
            if item.event.aggregate_type == "order":
                self.timeline.record(
                    item.event.aggregate_id, item.event.event_type, str(item.event_id)
                )

    def _commit(self) -> None:
        super()._commit()
        for order_id, order in self.pending.items():
            kept = copy.deepcopy(order)
            kept.events = []
            self.store.orders[order_id] = kept
        self.store.keys.update(self.pending_keys)
        self.store.timeline.extend(self.steps)
        self.rollback()

    def rollback(self) -> None:
        """Forget what was not committed."""
        super().rollback()
        self.pending.clear()
        self.pending_keys.clear()
        self.steps.clear()
