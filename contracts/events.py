"""Payload models of the integration events, registered by (event_type, version)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from servicekit.messaging.envelope import Event, EventRegistry

CATALOG = EventRegistry()

# The service that owns each aggregate: the only one that writes its events, hence the only
# producer on its topic ``<aggregate>.events``. The topics `make up` creates and the AsyncAPI
# document (docs/asyncapi.yaml) follow from this table.
AGGREGATE_OWNERS: Mapping[str, str] = {
    "account": "auth_service",
    "user": "user_service",
    "category": "product_service",
    "product": "product_service",
    "order": "order_service",
    "stock_reservation": "product_service",
    "payment": "payment_service",
}


class _Payload(BaseModel):
    """A part of an event's payload (a line, an address)."""

    # Unknown fields are kept: a newer producer may add optional fields before consumers know them.
    model_config = ConfigDict(extra="allow", frozen=True)


@CATALOG.register("account.registered", aggregate="account", key="user_id")
class AccountRegistered(Event):
    """auth -> user (create profile), notification (welcome)."""

    user_id: str
    email: str
    full_name: str
    roles: list[str]
    registered_at: datetime


@CATALOG.register("account.roles_changed", aggregate="account", key="user_id")
class AccountRolesChanged(Event):
    """auth -> user: an admin granted or took away roles; tokens show them from the next
    refresh."""

    user_id: str
    roles: list[str]
    changed_by: str


@CATALOG.register("account.guest_registered", aggregate="account", key="user_id")
class GuestRegistered(Event):
    """auth -> user (a profile without contact), notification: an anonymous customer."""

    user_id: str
    roles: list[str]
    registered_at: datetime


@CATALOG.register("account.guest_converted", aggregate="account", key="user_id")
class GuestConverted(Event):
    """auth -> user, notification: a guest registered; the same user, now with an email."""

    user_id: str
    email: str
    full_name: str
    roles: list[str]
    converted_at: datetime


# -- customers ------------------------------------------------------------------------------


@CATALOG.register("user.profile_updated", aggregate="user", key="user_id")
class ProfileUpdated(Event):
    """user -> notification: how to reach a customer. Never carries the national id (CPF)."""

    user_id: str
    full_name: str
    email: str | None = None
    phone: str | None = None  # E.164
    notification_channels: list[str] = Field(default_factory=lambda: ["email"])
    guest: bool = False


# -- catalog ---------------------------------------------------------------------------------


@CATALOG.register("category.created", aggregate="category", key="category_id")
class CategoryCreated(Event):
    """product -> order (read model of categories)."""

    category_id: str
    name: str
    slug: str
    description: str | None = None


@CATALOG.register("category.updated", aggregate="category", key="category_id")
class CategoryUpdated(Event):
    """product -> order (read model): a category's current name and description."""

    category_id: str
    name: str
    slug: str
    description: str | None = None


@CATALOG.register("category.deleted", aggregate="category", key="category_id")
class CategoryDeleted(Event):
    """product -> order (read model): an empty category is gone."""

    category_id: str
    slug: str


@CATALOG.register("product.created", aggregate="product", key="product_id")
class ProductCreated(Event):
    """product -> order (read model of products)."""

    product_id: str
    sku: str
    name: str
    price: str  # decimal string, two places
    currency: str
    category_id: str | None = None


@CATALOG.register("product.updated", aggregate="product", key="product_id")
class ProductUpdated(Event):
    """product -> order (read model): the product's current name, price and category."""

    product_id: str
    sku: str
    name: str
    price: str
    currency: str
    category_id: str | None = None


@CATALOG.register("product.archived", aggregate="product", key="product_id")
class ProductArchived(Event):
    """product -> order (read model): no longer listed nor orderable; past orders keep it."""

    product_id: str
    archived_at: datetime


# -- the order saga --------------------------------------------------------------------------


class OrderLine(_Payload):
    """A product and a quantity."""

    product_id: str
    quantity: int


class PricedLine(_Payload):
    """A line with the unit price the stock service reserved it at."""

    product_id: str
    quantity: int
    unit_price: str


class Address(_Payload):
    """A postal address, as the customer gave it."""

    street: str
    number: str
    city: str
    state: str
    country: str
    zipcode: str


@CATALOG.register("order.created", aggregate="order", key="order_id")
class OrderCreated(Event):
    """order -> product (reserve stock). deadline_at: when the saga times out."""

    order_id: str
    customer_id: str
    items: list[OrderLine]
    currency: str
    deadline_at: datetime
    delivery_address: Address | None = None
    payment_method: str = "card"


@CATALOG.register("stock.reserved", aggregate="stock_reservation", key="order_id")
class StockReserved(Event):
    """product -> order, payment (authorize). Every line reserved, at these prices;
    ``payment_method`` copied from order.created (payment charges by it)."""

    order_id: str
    customer_id: str
    items: list[PricedLine]
    total: str
    currency: str
    deadline_at: datetime
    payment_method: str = "card"


@CATALOG.register("stock.reservation_failed", aggregate="stock_reservation", key="order_id")
class StockReservationFailed(Event):
    """product -> order: nothing was reserved, and why."""

    order_id: str
    customer_id: str
    reason: str


@CATALOG.register("stock.released", aggregate="stock_reservation", key="order_id")
class StockReleased(Event):
    """product -> order (timeline): a reservation was given back."""

    order_id: str
    items: list[OrderLine]
    reason: str


@CATALOG.register("stock.committed", aggregate="stock_reservation", key="order_id")
class StockCommitted(Event):
    """product -> order: reserved stock became sold (after order.confirmed)."""

    order_id: str
    items: list[OrderLine]


@CATALOG.register("payment.authorized", aggregate="payment", key="order_id")
class PaymentAuthorized(Event):
    """payment -> order."""

    order_id: str
    payment_id: str
    customer_id: str
    amount: str
    currency: str


@CATALOG.register("payment.awaiting", aggregate="payment", key="order_id")
class PaymentAwaiting(Event):
    """payment -> order (timeline): a pix charge exists at the provider and waits for the
    customer to pay it by ``expires_at``. What to show the customer, and nothing personal:
    ``qr_code`` is the pix "copia e cola" text (an EMV BR Code), ``qr_code_png`` a data: URL of
    a PNG QR code of it."""

    order_id: str
    payment_id: str
    customer_id: str
    charge_id: str
    amount: str
    currency: str
    qr_code: str
    qr_code_png: str
    expires_at: datetime


@CATALOG.register("payment.declined", aggregate="payment", key="order_id")
class PaymentDeclined(Event):
    """payment -> order: the provider said no (or the saga deadline had passed)."""

    order_id: str
    payment_id: str
    customer_id: str
    amount: str
    currency: str
    reason: str


@CATALOG.register("payment.refunded", aggregate="payment", key="order_id")
class PaymentRefunded(Event):
    """payment -> order: an authorized payment was given back (order cancelled)."""

    order_id: str
    payment_id: str
    customer_id: str
    amount: str
    currency: str
    reason: str


@CATALOG.register("payment.voided", aggregate="payment", key="order_id")
class PaymentVoided(Event):
    """payment -> order: the order was cancelled before any charge; none will be made."""

    order_id: str
    payment_id: str
    customer_id: str
    reason: str


@CATALOG.register("order.confirmed", aggregate="order", key="order_id")
class OrderConfirmed(Event):
    """order -> product (commit reservation), notification."""

    order_id: str
    customer_id: str
    items: list[PricedLine]
    total: str
    currency: str


@CATALOG.register("order.cancelled", aggregate="order", key="order_id")
class OrderCancelled(Event):
    """order -> product (release), payment (refund or void), notification."""

    order_id: str
    customer_id: str
    reason: str


@CATALOG.register("order.rejected", aggregate="order", key="order_id")
class OrderRejected(Event):
    """order -> product (release, if anything is held), payment (void), notification."""

    order_id: str
    customer_id: str
    reason: str


# -- fulfilment: after CONFIRMED, one step at a time --------------------------------------


class _FulfilmentStep(Event):
    order_id: str
    customer_id: str
    fulfilment_status: str
    changed_by: str


@CATALOG.register("order.preparing", aggregate="order", key="order_id")
class OrderPreparing(_FulfilmentStep):
    """order -> (timeline): staff started preparing a confirmed order."""


@CATALOG.register("order.shipped", aggregate="order", key="order_id")
class OrderShipped(_FulfilmentStep):
    """order -> notification: the order left for its delivery address."""


@CATALOG.register("order.delivered", aggregate="order", key="order_id")
class OrderDelivered(_FulfilmentStep):
    """order -> notification: the order reached the customer; its saga's last step."""
