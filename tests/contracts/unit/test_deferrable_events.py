"""Which consumed events may wait for company (servicekit.messaging.subscriptions.on): only those
no saga waits on. An event that moves an order towards its outcome must be applied as it comes,
or every order would pay the wait on its latency."""

from __future__ import annotations

from notification_service.consumers import SUBSCRIPTIONS as NOTIFICATION
from order_service.consumers import SUBSCRIPTIONS as ORDER
from payment_service.consumers import SUBSCRIPTIONS as PAYMENT
from product_service.consumers import SUBSCRIPTIONS as PRODUCT

# Each step of the saga, as the service that takes it consumes it.
SAGA_STEPS = {
    "product-service": {"order.created", "order.cancelled", "order.rejected"},
    "payment-service": {"stock.reserved", "order.cancelled", "order.rejected"},
    "order-service": {
        "stock.reserved",
        "stock.reservation_failed",
        "payment.authorized",
        "payment.declined",
        "payment.awaiting",
    },
}


def test_no_step_of_the_saga_waits() -> None:
    for table in (ORDER, PRODUCT, PAYMENT, NOTIFICATION):
        assert not set(table.deferrable) & SAGA_STEPS.get(table.group, set()), table.group


def test_what_only_records_the_saga_waits_for_company() -> None:
    assert set(ORDER.deferrable) == {
        "stock.released",
        "stock.committed",
        "payment.refunded",
        "payment.voided",
    }
    assert set(PRODUCT.deferrable) == {"order.confirmed"}
    # Deferring needs the batch path: the tables that defer declare their locks.
    assert ORDER.batch_locks is not None
    assert PRODUCT.batch_locks is not None
