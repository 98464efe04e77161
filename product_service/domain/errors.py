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


class CategoryNotFound(Exception):
    """404: no category has this id."""

    def __init__(self) -> None:
        super().__init__("category not found")


class UnknownCategory(Exception):
    """422: a product names a category that does not exist."""

    def __init__(self, category_id: str) -> None:
        super().__init__(f"unknown category: {category_id}")
        self.category_id = category_id


class SlugTaken(Exception):
    """409: another category has this slug."""

    def __init__(self, slug: str) -> None:
        super().__init__(f"a category with slug {slug!r} already exists")
        self.slug = slug


class SlugUnderivable(Exception):
    """422: no slug was given and the name has no letter or digit to make one of."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"no slug can be derived from the name {name!r} (it has no letter or digit that"
            " folds to ASCII): give a slug"
        )
        self.name = name


class CategoryNotEmpty(Exception):
    """409: products are still in the category (archived ones too: they keep their category)."""

    def __init__(self, slug: str, products: int) -> None:
        super().__init__(
            f"category {slug!r} is not empty: {products} product(s) in it, archived ones included"
        )
        self.slug = slug
        self.products = products
