"""Request and response bodies of the products API (``/api/products``)."""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    Field,
    StrictInt,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from contracts.money import money_text
from product_service.application.commands import CreateProduct, UpdateProduct
from product_service.domain import product as domain
from product_service.domain.product import MAX_STOCK, SKU_PATTERN, ProductChanges
from servicekit.api import Currency, Price, RequestBody, Text

Stock = Annotated[StrictInt, Field(ge=0, le=MAX_STOCK)]
Name = Annotated[Text, Field(min_length=1, max_length=200)]
Description = Annotated[Text, Field(max_length=2000)]


class ProductCreate(RequestBody):
    """POST /api/products."""

    sku: str = Field(min_length=1, max_length=64, pattern=SKU_PATTERN)
    name: Name
    description: Description | None = None
    price: Price
    currency: Currency
    stock: Stock = Field(description="initial quantity available for orders")

    def command(self) -> CreateProduct:
        """What the admin asks for."""
        return CreateProduct(
            sku=self.sku,
            name=self.name,
            description=self.description,
            price=self.price,
            currency=self.currency,
            stock=self.stock,
        )


class ProductUpdate(RequestBody):
    """PATCH /api/products/{product_id}: only the fields given change.

    ``stock`` sets the quantity AVAILABLE for new orders; units held by open reservations or
    already sold are not affected (the change is recorded as a stock adjustment).
    """

    # Optional, but only description is nullable (null clears it); null elsewhere -> 422.
    name: Name | SkipJsonSchema[None] = None
    description: Description | None = None
    price: Price | SkipJsonSchema[None] = None
    stock: Stock | SkipJsonSchema[None] = Field(default=None, description="new available quantity")

    @model_validator(mode="after")
    def no_null_for_required(self) -> Self:
        """Only ``description`` may be cleared with null."""
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
        changes = ProductChanges(**self.model_dump(exclude_unset=True))
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
        )


class ProductPage(BaseModel):
    """GET /api/products."""

    items: list[Product]
    page: int
    size: int
    total: int
