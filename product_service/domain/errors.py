"""What can go wrong in the catalog; the API maps each to a status."""


class CatalogError(Exception):
    """Base class."""


class SkuTaken(CatalogError):
    """409: another product has this SKU (compared case-insensitively)."""
