"""The route table (path prefix -> Eureka app) and the short list of endpoints that need no token.

Paths are matched exactly as the upstream will see them: forwarded unchanged, decoded the same
way by the service's own router. Anything not listed as public needs a valid token (fail closed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_ROUTES: Mapping[str, str] = {
    "/api/auth": "AUTH-SERVICE",
    "/api/users": "USER-SERVICE",
    "/api/products": "PRODUCT-SERVICE",
    "/api/categories": "PRODUCT-SERVICE",
    "/api/orders": "ORDER-SERVICE",
    "/api/payments": "PAYMENT-SERVICE",
    "/api/notifications": "NOTIFICATION-SERVICE",
    "/api/ops": "OPS-SERVICE",
}

_PREFIX = re.compile(r"^/api(/[A-Za-z0-9._~-]+)+$")

# Exact (method, path) pairs reachable without a token.
_PUBLIC_EXACT: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/api/auth/register"),
        ("POST", "/api/auth/login"),
        ("POST", "/api/auth/refresh"),
        ("POST", "/api/auth/logout"),
        ("POST", "/api/auth/guest"),
        ("GET", "/api/auth/.well-known/jwks.json"),
        ("HEAD", "/api/auth/.well-known/jwks.json"),
        ("GET", "/api/products"),
        ("HEAD", "/api/products"),
        ("GET", "/api/categories"),
        ("HEAD", "/api/categories"),
        # The payment provider's webhooks carry no bearer token: payment_service checks their
        # signature (contracts.webhooks) before anything else.
        ("POST", "/api/payments/webhooks/provider"),
    }
)
# GET/HEAD /api/products/{product_id}: exactly one non-empty segment, so that no deeper product
# endpoint added later becomes public by accident.
_PUBLIC_PRODUCT = re.compile(r"/api/products/[^/]+")
_READ_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True, slots=True)
class Route:
    """One entry of the route table."""

    prefix: str
    service: str


def validate_routes(routes: Mapping[str, str]) -> dict[str, str]:
    """Normalised route table, or ValueError for a prefix outside /api or an empty app name."""
    checked: dict[str, str] = {}
    for prefix, service in routes.items():
        clean = prefix.rstrip("/")
        if not _PREFIX.match(clean):
            raise ValueError(f"route prefix {prefix!r} must look like /api/<name>")
        if not service.strip():
            raise ValueError(f"route {prefix!r} has no service name")
        checked[clean] = service.strip().upper()
    return checked


class RouteTable:
    """Longest-prefix match on whole path segments: /api/orders matches /api/orders/1, never
    /api/ordersx."""

    def __init__(self, routes: Mapping[str, str]) -> None:
        ordered = sorted(validate_routes(routes).items(), key=lambda item: -len(item[0]))
        self._routes = tuple(Route(prefix, service) for prefix, service in ordered)
        self._with_slash = tuple((route.prefix + "/", route) for route in self._routes)

    @property
    def services(self) -> list[str]:
        """Every app name the table routes to."""
        return sorted({route.service for route in self._routes})

    def match(self, path: str) -> Route | None:
        """The route serving ``path``, or None."""
        for with_slash, route in self._with_slash:
            if path.startswith(with_slash) or path == route.prefix:
                return route
        return None


def is_public(method: str, path: str) -> bool:
    """True when the endpoint may be called without a token."""
    if (method, path) in _PUBLIC_EXACT:
        return True
    return method in _READ_METHODS and _PUBLIC_PRODUCT.fullmatch(path) is not None


def is_safe_path(path: str) -> bool:
    """False for dot segments (``/./``, ``/../``, also when percent-encoded, as the path arrives
    decoded): an HTTP client or service could resolve them to a path the gateway never checked."""
    return "/." not in path or not any(segment in (".", "..") for segment in path.split("/"))
