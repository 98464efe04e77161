"""What the order rules refuse; the API maps each to its status."""

from __future__ import annotations


class CannotCancel(Exception):
    """409: the order is confirmed or already finished."""


class UnknownProducts(Exception):
    """422: these product ids are not in the catalog."""

    def __init__(self, product_ids: list[str]) -> None:
        super().__init__(f"unknown product(s): {', '.join(product_ids)}")
        self.product_ids = product_ids


class MixedCurrencies(Exception):
    """422: an order is paid in one currency."""


class TotalTooLarge(Exception):
    """422: the order's total is above the largest amount the platform stores."""


class IdempotencyConflict(Exception):
    """409: the Idempotency-Key was used for a different request."""


class ArchivedProducts(Exception):
    """422: these products were archived and can no longer be ordered."""

    def __init__(self, product_ids: list[str]) -> None:
        super().__init__(f"archived product(s), no longer orderable: {', '.join(product_ids)}")
        self.product_ids = product_ids


class FulfilmentNotAllowed(Exception):
    """409: not the next fulfilment step, or the order is not CONFIRMED."""


class StaffOnly(Exception):
    """403: only staff (or an admin) move orders through fulfilment."""
