"""Which status each refusal of the order rules answers with (its message is the detail)."""

from __future__ import annotations

from order_service.adapters.catalog import CatalogUnavailable
from order_service.domain.errors import (
    ArchivedProducts,
    CannotCancel,
    FulfilmentNotAllowed,
    IdempotencyConflict,
    MixedCurrencies,
    StaffOnly,
    TotalTooLarge,
    UnknownProducts,
)

ERROR_STATUSES: dict[type[Exception], int] = {
    StaffOnly: 403,
    CannotCancel: 409,
    FulfilmentNotAllowed: 409,
    IdempotencyConflict: 409,
    UnknownProducts: 422,
    ArchivedProducts: 422,
    MixedCurrencies: 422,
    TotalTooLarge: 422,
    CatalogUnavailable: 503,
}
