"""Which consumed events may wait for company (servicekit.messaging.subscriptions.on) or be
fetched by gathering (Subscriptions.gathering): only those no saga waits on. An event that moves
an order towards its outcome must be applied as it comes, or every order would pay the wait on
its latency."""

from __future__ import annotations

from notification_service.consumers import SUBSCRIPTIONS as NOTIFICATION
from order_service.consumers import SUBSCRIPTIONS as ORDER
from payment_service.consumers import COMPENSATIONS as PAYMENT_COMPENSATIONS
from payment_service.consumers import SUBSCRIPTIONS as PAYMENT
from product_service.consumers import SUBSCRIPTIONS as PRODUCT

# Each step of the saga, as the service that takes it consumes it.
SAGA_STEPS = {
    "product-service": {"order.created", "order.cancelled", "order.rejected"},
    "payment-service": {"stock.reserved"},
    "order-service": {
        "stock.reserved",
        "stock.reservation_failed",
        "payment.authorized",
        "payment.declined",
        "payment.awaiting",
    },
}


# What happens once an order has its outcome (cancelled or rejected): no order waits on it.
# product_service's release still runs at once: the stock it frees may be what the next order
# needs.
AFTER_THE_OUTCOME = {"payment-service": {"order.cancelled", "order.rejected"}}


def test_no_step_of_the_saga_waits() -> None:
    for table in (ORDER, PRODUCT, PAYMENT, PAYMENT_COMPENSATIONS, NOTIFICATION):
        assert not set(table.deferrable) & SAGA_STEPS.get(table.group, set()), table.group


def test_only_what_no_saga_waits_on_is_fetched_by_gathering() -> None:
    # The gathering tables (NOTIFICATION's main.py, PAYMENT_COMPENSATIONS's) hold no step; the
    # payment group's compensations are its own member, apart from the step it takes at once.
    for table in (NOTIFICATION, PAYMENT_COMPENSATIONS):
        consumed = {event.event_type for event in table.events}
        assert not consumed & SAGA_STEPS.get(table.group, set()), table.group
    assert {e.event_type for e in PAYMENT_COMPENSATIONS.events} == AFTER_THE_OUTCOME[
        "payment-service"
    ]
    assert PAYMENT_COMPENSATIONS.member and not set(PAYMENT.topics) & set(
        PAYMENT_COMPENSATIONS.topics
    )


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
