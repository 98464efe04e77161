"""Which status each refusal of the catalog rules answers with (its message is the detail)."""

from __future__ import annotations

from product_service.domain.errors import ProductNotFound, SkuTaken

ERROR_STATUSES: dict[type[Exception], int] = {
    ProductNotFound: 404,
    SkuTaken: 409,
}
