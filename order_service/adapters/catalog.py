"""Asking product_service about products the local read model has not seen yet."""

from __future__ import annotations

import httpx

from contracts.events import ProductCreated
from servicekit.discovery import EurekaDiscovery, tls_context


class CatalogUnavailable(Exception):
    """503: product_service could not be asked."""


def fetch_products(
    discovery: EurekaDiscovery | None, product_ids: list[str], *, timeout: float
) -> dict[str, ProductCreated | None]:
    """product_id -> the product, or None when product_service says it does not exist."""
    instances = discovery.round_robin("PRODUCT-SERVICE") if discovery else []
    if not instances:
        raise CatalogUnavailable("no PRODUCT-SERVICE instance is registered")
    found: dict[str, ProductCreated | None] = {}
    with httpx.Client(timeout=timeout, verify=tls_context()) as client:
        for product_id in product_ids:
            for instance in instances:
                try:
                    response = client.get(f"{instance.base_url}/api/products/{product_id}")
                except httpx.HTTPError:
                    continue
                if response.status_code == 404:
                    found[product_id] = None
                    break
                if response.status_code == 200:
                    body = response.json()
                    found[product_id] = ProductCreated(
                        product_id=body["product_id"],
                        sku=body["sku"],
                        name=body["name"],
                        price=body["price"],
                        currency=body["currency"],
                        category_id=body.get("category_id"),
                    )
                    break
            else:
                raise CatalogUnavailable("product_service did not answer")
    return found
