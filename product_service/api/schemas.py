"""Request and response bodies of the products API (API.md, "Products")."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    model_validator,
)

from contracts.money import money_text
from product_service.domain.model import (
    MAX_STOCK,
    SKU_PATTERN,
    check_currency,
    parse_price,
)

Price = Annotated[
    Decimal,
    BeforeValidator(parse_price),
    Field(description='decimal string, > 0, at most two places, e.g. "19.99"'),
]
Currency = Annotated[
    str, AfterValidator(check_currency), Field(description="ISO 4217 code, e.g. EUR")
]
Stock = Annotated[StrictInt, Field(ge=0, le=MAX_STOCK)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=2000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ProductCreate(_Strict):
    """POST /api/products."""

    sku: str = Field(min_length=1, max_length=64, pattern=SKU_PATTERN)
    name: Name
    description: Description | None = None
    price: Price
    currency: Currency
    stock: Stock = Field(description="initial quantity available for orders")


class ProductUpdate(_Strict):
    """PATCH /api/products/{product_id}: only the fields given change.

    ``stock`` sets the quantity AVAILABLE for new orders; units held by open reservations or
    already sold are not affected (the change is recorded as a stock adjustment).
    """

    name: Name | None = None
    description: Description | None = None
    price: Price | None = None
    stock: Stock | None = Field(default=None, description="new available quantity")

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
