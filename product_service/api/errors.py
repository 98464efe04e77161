"""Which status each refusal of the catalog rules answers with (its message is the detail)."""

from __future__ import annotations

from product_service.domain.errors import (
    CategoryNotEmpty,
    CategoryNotFound,
    ProductNotFound,
    SkuTaken,
    SlugTaken,
    SlugUnderivable,
    UnknownCategory,
)

ERROR_STATUSES: dict[type[Exception], int] = {
    ProductNotFound: 404,
    CategoryNotFound: 404,
    SkuTaken: 409,
    SlugTaken: 409,
    CategoryNotEmpty: 409,
    UnknownCategory: 422,
    SlugUnderivable: 422,
}
