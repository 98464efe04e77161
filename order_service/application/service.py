"""The entry point of order_service's use cases for its API and its timeout sweeper: each
command in its own unit of work (transaction), plus what must happen between transactions."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta

from contracts.events import Address, ProductCreated
from order_service.application import commands
from order_service.application.commands import (
    AdvanceFulfilment,
    CancelOrder,
    Placed,
    PlaceOrder,
)
from order_service.application.ports import OrderUnitOfWork
from order_service.domain.errors import UnknownProducts
from order_service.domain.model import Order
from order_service.domain.statuses import FulfilmentStatus, PaymentMethod
from servicekit.logging import get_logger
from servicekit.tokens import Principal

log = get_logger(__name__)

# A unit of work that owns its transaction: commits when the block ends normally.
UnitOfWorkFactory = Callable[[], AbstractContextManager[OrderUnitOfWork]]
# Products by id from product_service itself (None: it says there is no such product).
ProductLookup = Callable[[list[str]], dict[str, ProductCreated | None]]


class OrderService:
    """Runs the order commands."""

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        *,
        lookup_products: ProductLookup,
        saga_timeout: timedelta,
        pix_payment_timeout: timedelta | None = None,
    ) -> None:
        self.unit_of_work = unit_of_work
        self.lookup_products = lookup_products
        self.saga_timeout = saga_timeout
        # A pix customer needs minutes to open their bank app and pay: the saga waits longer.
        self.pix_payment_timeout = pix_payment_timeout or saga_timeout

    def place(
        self,
        *,
        customer_id: str,
        items: list[tuple[str, int]],
        delivery_address: Address | None,
        idempotency_key: str | None,
        payment_method: PaymentMethod = PaymentMethod.CARD,
    ) -> Placed:
        """Place an order. A product created moments ago may not have reached the catalog read
        model yet: product_service is asked about the unknown ones (outside any transaction)
        and the order placed once more."""
        command = PlaceOrder(
            customer_id=customer_id,
            items=items,
            delivery_address=delivery_address,
            idempotency_key=idempotency_key,
            saga_timeout=(
                self.pix_payment_timeout
                if payment_method is PaymentMethod.PIX
                else self.saga_timeout
            ),
            payment_method=payment_method,
        )
        try:
            with self.unit_of_work() as uow:
                return commands.place_order(command, uow)
        except UnknownProducts as exc:
            found = self.lookup_products(exc.product_ids)
        with self.unit_of_work() as uow:
            for product in found.values():
                if product is not None:
                    uow.catalog.remember(product)
        with self.unit_of_work() as uow:
            return commands.place_order(command, uow)

    def cancel(self, order_id: str) -> Order | None:
        """Cancel an open order (CannotCancel once confirmed or finished); None if unknown."""
        with self.unit_of_work() as uow:
            return commands.cancel_order(CancelOrder(order_id), uow)

    def advance_fulfilment(
        self, order_id: str, status: FulfilmentStatus, by: Principal
    ) -> Order | None:
        """The next fulfilment step, by staff or an admin; None if the order is unknown."""
        with self.unit_of_work() as uow:
            return commands.advance_fulfilment(AdvanceFulfilment(order_id, status, by), uow)

    def time_out_due(self, limit: int = 100) -> int:
        """Cancel every open saga past its deadline, each in its own transaction; safe on every
        instance at once (each order is locked, and a finished one is left alone)."""
        with self.unit_of_work() as uow:
            due = uow.orders.due_for_timeout(limit)
        cancelled = 0
        for order_id in due:
            with self.unit_of_work() as uow:
                cancelled += commands.time_out(order_id, uow)
        if cancelled:
            log.warning("sagas_timed_out", count=cancelled)
        return cancelled
