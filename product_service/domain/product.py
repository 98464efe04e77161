"""The catalog: products and their stock counters. Pure Python: no framework, database or
broker here.

Stock conservation, per product: ``initial + adjusted = available + reserved + sold``. Orders only
move units between available, reserved and sold (:class:`Stock`); an admin setting the available
quantity records the difference in ``adjusted``. The database enforces the same equation with
CHECK constraints, the last line of defence behind these rules. What a product's changes mean
for others is recorded as event objects of the catalog (``contracts.events``) in ``events``; the
unit of work publishes them with the change.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import ClassVar

from contracts.events import ProductArchived, ProductCreated, ProductUpdated
from contracts.money import money_text, to_amount
from product_service.domain.errors import StockRuleBroken
from servicekit.messaging.envelope import Event

MAX_STOCK = 1_000_000_000
SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]*$"


# -- stock -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stock:
    """One product's stock counters; every move keeps them conserved and none negative."""

    initial: int
    available: int
    adjusted: int = 0
    reserved: int = 0
    sold: int = 0

    @classmethod
    def opening(cls, quantity: int) -> Stock:
        """A new product's stock: all of it available."""
        return cls(initial=quantity, available=quantity)._checked()

    @property
    def conserved(self) -> bool:
        """``initial + adjusted = available + reserved + sold``, no counter below zero."""
        return (
            self.initial + self.adjusted == self.available + self.reserved + self.sold
            and min(self.initial, self.available, self.reserved, self.sold) >= 0
        )

    def reserve(self, quantity: int) -> Stock:
        """available -> reserved."""
        return replace(
            self, available=self.available - quantity, reserved=self.reserved + quantity
        )._checked()

    def commit(self, quantity: int) -> Stock:
        """reserved -> sold."""
        return replace(
            self, reserved=self.reserved - quantity, sold=self.sold + quantity
        )._checked()

    def release(self, quantity: int) -> Stock:
        """reserved -> available."""
        return replace(
            self, reserved=self.reserved - quantity, available=self.available + quantity
        )._checked()

    def set_available(self, quantity: int) -> Stock:
        """An admin sets the quantity available for new orders; held and sold units stay, the
        difference goes to ``adjusted``."""
        delta = quantity - self.available
        return replace(self, available=quantity, adjusted=self.adjusted + delta)._checked()

    def _checked(self) -> Stock:
        if not self.conserved:
            raise StockRuleBroken(f"stock would not be conserved: {self}")
        return self


# -- products ----------------------------------------------------------------------------------


class Keep(Enum):
    """Marks a field a change leaves as it is (``None`` is a value: it clears a description)."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True, slots=True)
class ProductChanges:
    """What an admin changes in a product; fields left at KEEP stay as they are."""

    name: str | Keep = KEEP
    description: str | Keep | None = KEEP
    price: Decimal | Keep = KEEP
    stock: int | Keep = KEEP  # the new AVAILABLE quantity
    category_id: str | Keep | None = KEEP  # None takes the product out of its category

    @property
    def given(self) -> list[str]:
        """The names of the fields that change, sorted."""
        values = {
            "category_id": self.category_id,
            "description": self.description,
            "name": self.name,
            "price": self.price,
            "stock": self.stock,
        }
        return [name for name, value in values.items() if value is not KEEP]

    @property
    def empty(self) -> bool:
        """Nothing to change."""
        return not self.given


@dataclass(frozen=True, slots=True)
class StockAdjustment:
    """An admin's change of the available quantity, kept for the audit trail."""

    delta: int
    available: int
    adjusted_by: str


@dataclass
class Product:
    """A product of the catalog with its stock, the events its changes recorded, and the stock
    adjustments not yet stored.

    An archived product (``archived_at`` set) is no longer listed, shown, changed nor reserved
    for new orders; it stays in the database, in its category, for the orders that hold it."""

    aggregate_type: ClassVar[str] = ProductCreated.aggregate_type  # "product", its lock's name

    product_id: str
    sku: str
    name: str
    description: str | None
    price: Decimal
    currency: str
    stock: Stock
    category_id: str | None = None
    archived_at: datetime | None = None
    events: list[Event] = field(default_factory=list)
    adjustments: list[StockAdjustment] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        *,
        product_id: str,
        sku: str,
        name: str,
        description: str | None,
        price: Decimal,
        currency: str,
        stock: int,
        category_id: str | None = None,
    ) -> Product:
        """A new product with its initial stock, announced as product.created."""
        product = cls(
            product_id,
            sku,
            name,
            description,
            to_amount(price),
            currency,
            Stock.opening(stock),
            category_id,
        )
        product.events.append(ProductCreated(**product._announced()))
        return product

    def change(self, changes: ProductChanges, *, actor: str) -> None:
        """Apply an admin's changes, announced as product.updated (nothing when there are none).
        A new stock sets the AVAILABLE quantity and is recorded as an adjustment by ``actor``."""
        if changes.empty:
            return
        if not isinstance(changes.name, Keep):
            self.name = changes.name
        if not isinstance(changes.description, Keep):
            self.description = changes.description
        if not isinstance(changes.price, Keep):
            self.price = to_amount(changes.price)
        if not isinstance(changes.stock, Keep):
            before = self.stock.available
            self.stock = self.stock.set_available(changes.stock)
            self.adjustments.append(StockAdjustment(changes.stock - before, changes.stock, actor))
        if not isinstance(changes.category_id, Keep):
            self.category_id = changes.category_id
        self.events.append(ProductUpdated(**self._announced()))

    @property
    def archived(self) -> bool:
        """True once archived."""
        return self.archived_at is not None

    def archive(self, at: datetime) -> bool:
        """Take the product out of the catalog for good, announced as product.archived. False,
        and nothing recorded, when it was archived already (archiving is idempotent)."""
        if self.archived:
            return False
        self.archived_at = at
        self.events.append(ProductArchived(product_id=self.product_id, archived_at=at))
        return True

    def _announced(self) -> dict[str, str | None]:
        """The product as the order service's read model needs it."""
        return {
            "product_id": self.product_id,
            "sku": self.sku,
            "name": self.name,
            "price": money_text(self.price),
            "currency": self.currency,
            "category_id": self.category_id,
        }
