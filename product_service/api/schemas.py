"""Request and response bodies of the catalog API (``/api/products``, ``/api/categories``)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    Field,
    StrictInt,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from contracts.money import money_text
from product_service.application.commands import (
    CreateCategory,
    CreateProduct,
    UpdateCategory,
    UpdateProduct,
)
from product_service.domain import category as category_domain
from product_service.domain import product as domain
from product_service.domain.category import SLUG_MAX_LENGTH, SLUG_PATTERN, CategoryChanges
from product_service.domain.product import MAX_STOCK, SKU_PATTERN, ProductChanges
from servicekit.api import Currency, Price, RequestBody, Text

Stock = Annotated[StrictInt, Field(ge=0, le=MAX_STOCK)]
Name = Annotated[Text, Field(min_length=1, max_length=200)]
Description = Annotated[Text, Field(max_length=2000)]
CategoryId = Annotated[
    uuid.UUID, Field(description="a category's id (GET /api/categories); null: no category")
]
Slug = Annotated[
    str,
    Field(
        min_length=1,
        max_length=SLUG_MAX_LENGTH,
        pattern=SLUG_PATTERN,
        description="lowercase ASCII letters and digits, single hyphens between",
        examples=["bebidas-quentes"],
    ),
]
CategoryName = Annotated[Text, Field(min_length=1, max_length=100)]


class ProductCreate(RequestBody):
    """POST /api/products."""

    sku: str = Field(min_length=1, max_length=64, pattern=SKU_PATTERN)
    name: Name
    description: Description | None = None
    price: Price
    currency: Currency
    stock: Stock = Field(description="initial quantity available for orders")
    category_id: CategoryId | None = None

    def command(self) -> CreateProduct:
        """What the admin asks for."""
        return CreateProduct(
            sku=self.sku,
            name=self.name,
            description=self.description,
            price=self.price,
            currency=self.currency,
            stock=self.stock,
            category_id=str(self.category_id) if self.category_id is not None else None,
        )


class ProductUpdate(RequestBody):
    """PATCH /api/products/{product_id}: only the fields given change.

    ``stock`` sets the quantity AVAILABLE for new orders; units held by open reservations or
    already sold are not affected (the change is recorded as a stock adjustment).
    """

    # Optional, but only description and category_id are nullable (null clears them); null
    # elsewhere -> 422.
    name: Name | SkipJsonSchema[None] = None
    description: Description | None = None
    price: Price | SkipJsonSchema[None] = None
    stock: Stock | SkipJsonSchema[None] = Field(default=None, description="new available quantity")
    category_id: CategoryId | None = None

    @model_validator(mode="after")
    def no_null_for_required(self) -> Self:
        """Only ``description`` and ``category_id`` may be cleared with null."""
        nulls = [
            name
            for name in ("name", "price", "stock")
            if name in self.model_fields_set and getattr(self, name) is None
        ]
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null")
        return self

    def command(self, product_id: str, *, actor: str) -> UpdateProduct:
        """What the admin asks for: the fields given, and only those."""
        given = self.model_dump(exclude_unset=True)
        if given.get("category_id") is not None:
            given["category_id"] = str(given["category_id"])
        changes = ProductChanges(**given)
        return UpdateProduct(product_id=product_id, changes=changes, actor=actor)


class Product(BaseModel):
    """A product in the catalog."""

    product_id: str
    sku: str
    name: str
    description: str | None
    price: str
    currency: str
    stock_available: int
    category_id: str | None

    @classmethod
    def of(cls, product: domain.Product) -> Product:
        """From the domain's product."""
        return cls(
            product_id=product.product_id,
            sku=product.sku,
            name=product.name,
            description=product.description,
            price=money_text(product.price),
            currency=product.currency,
            stock_available=product.stock.available,
            category_id=product.category_id,
        )

    @classmethod
    def from_row(cls, row: Any) -> Product:
        """From a ``products`` row."""
        return cls(
            product_id=str(row["product_id"]),
            sku=row["sku"],
            name=row["name"],
            description=row["description"],
            price=money_text(row["price"]),
            currency=row["currency"],
            stock_available=int(row["stock_available"]),
            category_id=str(row["category_id"]) if row["category_id"] is not None else None,
        )


class ProductPage(BaseModel):
    """GET /api/products."""

    items: list[Product]
    page: int
    size: int
    total: int


class CategoryCreate(RequestBody):
    """POST /api/categories."""

    name: CategoryName
    slug: Slug | None = Field(
        default=None, description="derived from the name when absent: Açaí -> acai"
    )
    description: Description | None = None

    def command(self) -> CreateCategory:
        """What the admin asks for."""
        return CreateCategory(name=self.name, slug=self.slug, description=self.description)


class CategoryUpdate(RequestBody):
    """PATCH /api/categories/{category_id}: only the fields given change; the slug never does."""

    name: CategoryName | SkipJsonSchema[None] = None
    description: Description | None = None  # null clears it

    @model_validator(mode="after")
    def no_null_name(self) -> Self:
        """A category always has a name."""
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name cannot be null")
        return self

    def command(self, category_id: str) -> UpdateCategory:
        """What the admin asks for: the fields given, and only those."""
        return UpdateCategory(category_id, CategoryChanges(**self.model_dump(exclude_unset=True)))


class Category(BaseModel):
    """A category of the catalog."""

    category_id: str
    name: str
    slug: str
    description: str | None

    @classmethod
    def of(cls, category: category_domain.Category) -> Category:
        """From the domain's category."""
        return cls(
            category_id=category.category_id,
            name=category.name,
            slug=category.slug,
            description=category.description,
        )

    @classmethod
    def from_row(cls, row: Any) -> Category:
        """From a ``categories`` row."""
        return cls(
            category_id=str(row["category_id"]),
            name=row["name"],
            slug=row["slug"],
            description=row["description"],
        )
