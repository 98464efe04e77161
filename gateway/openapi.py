"""The public API as an OpenAPI document, built from API.md (../shared/API.md).

The gateway forwards requests without knowing their shapes, so the shapes are declared here: the
request and response models, and one table of endpoints that mirrors API.md. The document is
built once, with no I/O, when the app is created.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, EmailStr, Field
from pydantic.json_schema import models_json_schema

TITLE = "Order platform API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Everything clients reach through the gateway on port 8080. Endpoints marked with a lock "
    "need `Authorization: Bearer <access_token>` from `POST /api/auth/login`. Errors are "
    '`{"detail": ...}`: 400/401/404/409/422/429 for the request, 503 when a service has no '
    "available instance, 504 when it did not answer in time. Every response carries "
    "`X-Request-ID` (the client's, or one made by the gateway)."
)

Money = Annotated[
    str,
    Field(pattern=r"^-?[0-9]+\.[0-9]{2}$", description="decimal, two places", examples=["19.99"]),
]
Currency = Annotated[str, Field(min_length=3, max_length=3, examples=["EUR"])]
OrderStatus = Literal["PENDING", "STOCK_RESERVED", "CONFIRMED", "REJECTED", "CANCELLED"]
PaymentStatus = Literal["PENDING", "AUTHORIZED", "DECLINED", "REFUNDED", "VOIDED"]
InventoryStatus = Literal["PENDING", "RESERVED", "INSUFFICIENT", "RELEASED", "COMMITTED"]


class Error(BaseModel):
    """Every error body."""

    detail: Any = Field(description="what went wrong (a string, or a list for 422)")


# -- auth ------------------------------------------------------------------------------------


class RegisterRequest(BaseModel):
    """A new account."""

    email: EmailStr
    password: str = Field(min_length=8)
    full_name: str


class RegisterResponse(BaseModel):
    """The account created."""

    user_id: str
    email: EmailStr


class LoginRequest(BaseModel):
    """Credentials."""

    email: EmailStr
    password: str


class TokenPair(BaseModel):
    """An access token and its refresh token."""

    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a scheme name
    expires_in: int = Field(description="seconds until the access token expires")


class RefreshRequest(BaseModel):
    """A refresh token (each can be used once: it rotates)."""

    refresh_token: str


class Jwk(BaseModel):
    """One RSA public key."""

    kty: Literal["RSA"]
    kid: str
    use: Literal["sig"] = "sig"
    alg: Literal["RS256"] = "RS256"
    n: str
    e: str


class Jwks(BaseModel):
    """The auth service's public keys."""

    keys: list[Jwk]


# -- users -----------------------------------------------------------------------------------


class Address(BaseModel):
    """A postal address."""

    street: str
    number: str
    city: str
    state: str
    country: str
    zipcode: str


class UserProfile(BaseModel):
    """A user's profile."""

    user_id: str
    email: EmailStr
    full_name: str
    phone: str | None = None
    addresses: list[Address] = []


class UserProfileUpdate(BaseModel):
    """Fields to change; absent ones stay."""

    full_name: str | None = None
    phone: str | None = None
    addresses: list[Address] | None = None


class UserPage(BaseModel):
    """A page of users."""

    items: list[UserProfile]
    page: int
    size: int
    total: int


# -- products --------------------------------------------------------------------------------


class Product(BaseModel):
    """A product in the catalog."""

    product_id: str
    sku: str
    name: str
    description: str | None = None
    price: Money
    currency: Currency
    stock_available: int


class ProductPage(BaseModel):
    """A page of products."""

    items: list[Product]
    page: int
    size: int
    total: int


class ProductCreate(BaseModel):
    """A new product (admin)."""

    sku: str
    name: str
    description: str | None = None
    price: Money
    currency: Currency
    stock: int = Field(ge=0)


class ProductUpdate(BaseModel):
    """Fields to change (admin)."""

    name: str | None = None
    description: str | None = None
    price: Money | None = None
    stock: int | None = Field(default=None, ge=0)


# -- orders ----------------------------------------------------------------------------------


class OrderItemRequest(BaseModel):
    """One line of a new order."""

    product_id: str
    quantity: int = Field(ge=1)


class OrderCreate(BaseModel):
    """A new order."""

    items: list[OrderItemRequest] = Field(min_length=1)
    delivery_address: Address | None = None


class OrderAccepted(BaseModel):
    """The order as accepted; the saga goes on asynchronously."""

    order_id: str
    status: OrderStatus


class OrderItem(BaseModel):
    """One line of an order, priced."""

    product_id: str
    quantity: int
    unit_price: Money


class PaymentState(BaseModel):
    """Where the order's payment is."""

    status: PaymentStatus


class InventoryState(BaseModel):
    """Where the order's stock reservation is."""

    status: InventoryStatus


class Order(BaseModel):
    """An order and the state of its saga."""

    order_id: str
    customer_id: str
    status: OrderStatus
    items: list[OrderItem]
    total: Money
    currency: Currency
    payment: PaymentState
    inventory: InventoryState
    failure_reason: str | None = None
    created_at: datetime
    updated_at: datetime


class OrderPage(BaseModel):
    """A page of orders."""

    items: list[Order]
    page: int
    size: int
    total: int


class TimelineStep(BaseModel):
    """One step of an order's saga."""

    step: str
    event_type: str
    service: str
    at: datetime


# -- payments, notifications, operations -----------------------------------------------------


class Payment(BaseModel):
    """A payment of the caller."""

    payment_id: str
    order_id: str
    amount: Money
    currency: Currency
    status: PaymentStatus


class Notification(BaseModel):
    """A notification sent to the caller."""

    notification_id: str
    kind: str = Field(examples=["welcome", "order_confirmed"])
    channel: str = Field(examples=["email"])
    subject: str
    status: str
    created_at: datetime


class Health(BaseModel):
    """Liveness of the gateway."""

    status: Literal["ok", "unavailable"]


@dataclass(frozen=True)
class Endpoint:
    """One operation of the public API."""

    method: str
    path: str
    tag: str
    summary: str
    response: type[BaseModel] | None = None
    status: int = 200
    body: type[BaseModel] | None = None
    public: bool = False
    many: bool = False  # the response is a JSON array of ``response``
    query: tuple[tuple[str, str, str], ...] = ()  # (name, JSON type, description)
    headers: tuple[tuple[str, str], ...] = ()  # (name, description)
    errors: tuple[int, ...] = ()
    notes: str = ""


PAGING = (("page", "integer", "page number, from 1"), ("size", "integer", "items per page"))

ENDPOINTS: tuple[Endpoint, ...] = (
    # auth
    Endpoint(
        "post",
        "/api/auth/register",
        "auth",
        "Create an account",
        RegisterResponse,
        201,
        RegisterRequest,
        public=True,
        errors=(409, 422),
        notes="409 if the email exists; 422 for a weak password or a bad email.",
    ),
    Endpoint(
        "post",
        "/api/auth/login",
        "auth",
        "Log in",
        TokenPair,
        body=LoginRequest,
        public=True,
        errors=(401, 422),
        notes="401 on bad credentials.",
    ),
    Endpoint(
        "post",
        "/api/auth/refresh",
        "auth",
        "Rotate a refresh token",
        TokenPair,
        body=RefreshRequest,
        public=True,
        errors=(401,),
        notes="A rotated (already used) refresh token answers 401 and revokes its family.",
    ),
    Endpoint(
        "post",
        "/api/auth/logout",
        "auth",
        "Revoke a refresh token",
        None,
        204,
        RefreshRequest,
        public=True,
    ),
    Endpoint(
        "get",
        "/api/auth/.well-known/jwks.json",
        "auth",
        "Public signing keys (JWKS)",
        Jwks,
        public=True,
    ),
    # users
    Endpoint(
        "get",
        "/api/users/me",
        "users",
        "My profile",
        UserProfile,
        errors=(404,),
        notes="Created from the registration event: it may take a moment after register.",
    ),
    Endpoint(
        "patch",
        "/api/users/me",
        "users",
        "Update my profile",
        UserProfile,
        body=UserProfileUpdate,
        errors=(422,),
        notes="Only the fields sent change.",
    ),
    Endpoint(
        "get", "/api/users", "users", "List users (admin)", UserPage, query=PAGING, errors=(403,)
    ),
    # products
    Endpoint(
        "get",
        "/api/products",
        "products",
        "Search the catalog",
        ProductPage,
        public=True,
        query=(("q", "string", "text to search in name and description"), *PAGING),
    ),
    Endpoint(
        "get",
        "/api/products/{product_id}",
        "products",
        "One product",
        Product,
        public=True,
        errors=(404,),
    ),
    Endpoint(
        "post",
        "/api/products",
        "products",
        "Add a product (admin)",
        Product,
        201,
        ProductCreate,
        errors=(403, 409, 422),
    ),
    Endpoint(
        "patch",
        "/api/products/{product_id}",
        "products",
        "Change a product (admin)",
        Product,
        body=ProductUpdate,
        errors=(403, 404, 422),
    ),
    # orders
    Endpoint(
        "post",
        "/api/orders",
        "orders",
        "Place an order",
        OrderAccepted,
        202,
        OrderCreate,
        headers=(("Idempotency-Key", "same key and same user: the same order, 200"),),
        errors=(422,),
        notes="Unknown product or quantity < 1 answers 422 and writes nothing. The saga "
        "goes on asynchronously: poll GET /api/orders/{order_id}.",
    ),
    Endpoint(
        "get",
        "/api/orders/{order_id}",
        "orders",
        "One order",
        Order,
        errors=(404,),
        notes="A customer sees only their own orders (404 for others'); admin sees all.",
    ),
    Endpoint(
        "get",
        "/api/orders",
        "orders",
        "List orders",
        OrderPage,
        query=(("status", "string", "only orders in this status"), *PAGING),
    ),
    Endpoint(
        "post",
        "/api/orders/{order_id}/cancel",
        "orders",
        "Cancel an order",
        OrderAccepted,
        202,
        errors=(404, 409),
        notes="Allowed before CONFIRMED (409 after); compensation follows.",
    ),
    Endpoint(
        "get",
        "/api/orders/{order_id}/timeline",
        "orders",
        "The saga steps of an order",
        TimelineStep,
        many=True,
        errors=(404,),
    ),
    # payments, notifications
    Endpoint(
        "get",
        "/api/payments",
        "payments",
        "My payments",
        Payment,
        many=True,
        query=(("order_id", "string", "only the payments of this order"),),
    ),
    Endpoint(
        "get", "/api/notifications", "notifications", "My notifications", Notification, many=True
    ),
    # operations
    Endpoint(
        "get",
        "/health",
        "operations",
        "Gateway health",
        Health,
        public=True,
        errors=(503,),
        notes="200 when Eureka answered the last registry refresh.",
    ),
)

_ERROR_TEXT = {
    401: "missing, expired or invalid token",
    403: "admin role required",
    404: "not found (or not yours)",
    409: "conflict with the current state",
    422: "invalid input; nothing was written",
    503: "no instance of the service is available",
    504: "the service did not answer in time",
}
_REF = "#/components/schemas/{model}"


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if endpoint.response is None:
        responses[str(endpoint.status)] = {"description": "done"}
    else:
        schema: dict[str, Any] = _ref(endpoint.response)
        if endpoint.many:
            schema = {"type": "array", "items": schema}
        responses[str(endpoint.status)] = {
            "description": "success",
            "content": {"application/json": {"schema": schema}},
        }
    errors = {*endpoint.errors, 503, 504} | (set() if endpoint.public else {401})
    for code in sorted(errors):
        responses[str(code)] = {
            "description": _ERROR_TEXT[code],
            "content": {"application/json": {"schema": _ref(Error)}},
        }
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", endpoint.path)
    ]
    parameters += [
        {"name": n, "in": "query", "required": False, "schema": {"type": t}, "description": d}
        for n, t, d in endpoint.query
    ]
    parameters += [
        {
            "name": n,
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": d,
        }
        for n, d in endpoint.headers
    ]
    operation: dict[str, Any] = {
        "tags": [endpoint.tag],
        "summary": endpoint.summary,
        "operationId": f"{endpoint.method}_{re.sub(r'[^a-z0-9]+', '_', endpoint.path)}".strip("_"),
        "responses": responses,
        # An empty list overrides the document's default: no token needed.
        "security": [] if endpoint.public else [{"bearer": []}],
    }
    if endpoint.notes:
        operation["description"] = endpoint.notes
    if parameters:
        operation["parameters"] = parameters
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(endpoint.body)}},
        }
    return operation


def public_openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the public API."""
    models = {Error} | {
        model
        for endpoint in ENDPOINTS
        for model in (endpoint.body, endpoint.response)
        if model is not None
    }
    _, schemas = models_json_schema(
        [(model, "serialization") for model in sorted(models, key=lambda m: m.__name__)],
        ref_template=_REF,
    )
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        paths.setdefault(endpoint.path, {})[endpoint.method] = _operation(endpoint)
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION, "description": DESCRIPTION},
        "tags": [
            {"name": "auth", "description": "accounts and tokens (public)"},
            {"name": "users", "description": "profiles"},
            {"name": "products", "description": "the catalog (reads are public)"},
            {"name": "orders", "description": "orders and their saga"},
            {"name": "payments", "description": "payments of the caller"},
            {"name": "notifications", "description": "notifications of the caller"},
            {"name": "operations", "description": "health of the gateway"},
        ],
        "paths": paths,
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
        "security": [{"bearer": []}],
    }
