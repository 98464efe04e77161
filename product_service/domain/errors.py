"""What the catalog and stock rules refuse; the API maps each to its status (api/errors.py)."""

from __future__ import annotations


class SkuTaken(Exception):
    """409: another product has this SKU (compared case-insensitively)."""

    def __init__(self, sku: str) -> None:
        super().__init__(f"a product with SKU {sku!r} already exists")
        self.sku = sku


class ProductNotFound(Exception):
    """404: no product has this id."""

    def __init__(self) -> None:
        super().__init__("product not found")


class StockRuleBroken(Exception):
    """A stock move that would break conservation or drive a counter below zero: a bug, never
    an answer to a request (the reservation rules and the API's bounds rule it out first)."""
