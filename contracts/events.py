"""Payload models of the integration events, registered by (event_type, version)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from servicekit.messaging.envelope import EventRegistry

CATALOG = EventRegistry()


class _Payload(BaseModel):
    # Unknown fields are kept: a newer producer may add optional fields before consumers know them.
    model_config = ConfigDict(extra="allow", frozen=True)


@CATALOG.register("account.registered")
class AccountRegistered(_Payload):
    """auth -> user (create profile), notification (welcome)."""

    user_id: str
    email: str
    full_name: str
    roles: list[str]
    registered_at: datetime


# -- catalog ---------------------------------------------------------------------------------


@CATALOG.register("product.created")
class ProductCreated(_Payload):
    """product -> order (read model of products)."""

    product_id: str
    sku: str
    name: str
    price: str  # decimal string, two places
    currency: str


@CATALOG.register("product.updated")
class ProductUpdated(_Payload):
    """product -> order (read model): the product's current name and price."""

    product_id: str
    sku: str
    name: str
    price: str
    currency: str


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


@CATALOG.register("order.created")
class OrderCreated(_Payload):
    """order -> product (reserve stock). deadline_at: when the saga times out."""

    order_id: str
    customer_id: str
    items: list[OrderLine]
    currency: str
    deadline_at: datetime


@CATALOG.register("stock.reserved")
class StockReserved(_Payload):
    """product -> order, payment (authorize). Every line reserved, at these prices."""

    order_id: str
    customer_id: str
    items: list[PricedLine]
    total: str
    currency: str
    deadline_at: datetime


@CATALOG.register("stock.reservation_failed")
class StockReservationFailed(_Payload):
    """product -> order: nothing was reserved, and why."""

    order_id: str
    customer_id: str
    reason: str


@CATALOG.register("stock.released")
class StockReleased(_Payload):
    """product -> order (timeline): a reservation was given back."""

    order_id: str
    items: list[OrderLine]
    reason: str


@CATALOG.register("stock.committed")
class StockCommitted(_Payload):
    """product -> order: reserved stock became sold (after order.confirmed)."""

    order_id: str
    items: list[OrderLine]


@CATALOG.register("payment.authorized")
class PaymentAuthorized(_Payload):
    """payment -> order."""

    order_id: str
    payment_id: str
    customer_id: str
    amount: str
    currency: str


@CATALOG.register("payment.declined")
class PaymentDeclined(_Payload):
    """payment -> order: the provider said no (or the saga deadline had passed)."""

    order_id: str
    payment_id: str
    customer_id: str
    amount: str
    currency: str
    reason: str


@CATALOG.register("payment.refunded")
class PaymentRefunded(_Payload):
    """payment -> order: an authorized payment was given back (order cancelled)."""

    order_id: str
    payment_id: str
    customer_id: str
    amount: str
    currency: str
    reason: str


@CATALOG.register("payment.voided")
class PaymentVoided(_Payload):
    """payment -> order: the order was cancelled before any charge; none will be made."""

    order_id: str
    payment_id: str
    customer_id: str
    reason: str


@CATALOG.register("order.confirmed")
class OrderConfirmed(_Payload):
    """order -> product (commit reservation), notification."""

    order_id: str
    customer_id: str
    items: list[PricedLine]
    total: str
    currency: str


@CATALOG.register("order.cancelled")
class OrderCancelled(_Payload):
    """order -> product (release), payment (refund or void), notification."""

    order_id: str
    customer_id: str
    reason: str


@CATALOG.register("order.rejected")
class OrderRejected(_Payload):
    """order -> product (release, if anything is held), payment (void), notification."""

    order_id: str
    customer_id: str
    reason: str
