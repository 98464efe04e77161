"""Which status each refusal of the order rules answers with (its message is the detail)."""

from __future__ import annotations

from order_service.adapters.catalog import CatalogUnavailable
from order_service.domain.errors import (
    CannotCancel,
    IdempotencyConflict,
    MixedCurrencies,
    TotalTooLarge,
    UnknownProducts,
)

ERROR_STATUSES: dict[type[Exception], int] = {
    CannotCancel: 409,
    IdempotencyConflict: 409,
    UnknownProducts: 422,
    MixedCurrencies: 422,
    TotalTooLarge: 422,
    CatalogUnavailable: 503,
}
