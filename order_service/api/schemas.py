"""Request and response bodies of the orders API (``/api/orders``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field, field_validator

from order_service.domain.statuses import FulfilmentStatus
from servicekit.api import PostalAddress, RequestBody


class ItemRequest(RequestBody):
    """One line of a new order."""

    product_id: UUID
    quantity: int = Field(ge=1, le=1000)


class CreateOrderRequest(RequestBody):
    """POST /api/orders."""

    items: list[ItemRequest] = Field(min_length=1, max_length=50)
    delivery_address: PostalAddress | None = None
    # card: the simulated instant authorization; pix: a QR code paid through the provider.
    payment_method: Literal["card", "pix"] = "card"

    @field_validator("items")
    @classmethod
    def distinct_products(cls, items: list[ItemRequest]) -> list[ItemRequest]:
        """One line per product: a repeated product is almost always a client bug."""
        ids = [item.product_id for item in items]
        if len(set(ids)) != len(ids):
            raise ValueError("each product may appear only once; sum the quantities")
        return items


class OrderAccepted(BaseModel):
    """202 (or 200 for an Idempotency-Key retry)."""

    order_id: str
    status: str


class OrderItem(BaseModel):
    """A line with its unit price."""

    product_id: str
    quantity: int
    unit_price: str


class SubStatus(BaseModel):
    """payment / inventory sub-status."""

    status: str


class DeliveryAddress(BaseModel):
    """Where the order goes, as the customer gave it."""

    street: str
    number: str
    city: str
    state: str
    country: str
    zipcode: str


class Fulfilment(BaseModel):
    """How far staff have taken the order after CONFIRMED; updated_at null until the first
    step."""

    status: Literal["NOT_STARTED", "PREPARING", "SHIPPED", "DELIVERED"]
    updated_at: datetime | None


class OrderView(BaseModel):
    """GET /api/orders/{order_id}; also each ``status`` event of its live stream."""

    order_id: str
    customer_id: str
    status: Literal["PENDING", "STOCK_RESERVED", "CONFIRMED", "REJECTED", "CANCELLED"]
    items: list[OrderItem]
    total: str
    currency: str
    payment: SubStatus
    inventory: SubStatus
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime
    delivery_address: DeliveryAddress | None
    payment_method: Literal["card", "pix"]
    correlation_id: str | None
    fulfilment: Fulfilment


class OrderPage(BaseModel):
    """GET /api/orders."""

    items: list[OrderView]
    page: int
    size: int
    total: int


class TimelineStep(BaseModel):
    """One saga step."""

    step: str
    event_type: str
    service: str
    at: datetime


class FulfilmentRequest(RequestBody):
    """POST /api/orders/{order_id}/fulfilment: the step to take (the next one only)."""

    status: FulfilmentStatus
