"""What the payment use cases need from outside the domain, as protocols: the SQL repository is
in adapters/repository.py, the in-memory fake (for unit tests of the rules) in adapters/memory.py,
and one contract test suite runs against both.

The payment methods travel with the unit of work because they are configuration (the simulated
provider's limit comes from settings, wired in main.py), not state: a method that answers at once
(``card``) decides inside the handler's transaction. A method that charges through an external
provider must not call it inside a transaction; it answers that the payment waits, and the call
to the provider, with its idempotency key, happens after the commit, its outcome recorded by a
later unit of work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from payment_service.domain.model import Method, Payment, PaymentMethod, ProviderCall
from servicekit.messaging.unit_of_work import UnitOfWorkPort


class Payments(Protocol):
    """The payments, one aggregate per order."""

    def get_for_update(self, order_id: str) -> Payment | None:
        """The order's payment, locked (aggregate lock, then row lock) until the end of the
        work; None when the order has none yet. The lock is taken either way, so whichever
        event of the order comes second waits for the first and sees what it decided."""
        ...

    def add(self, payment: Payment) -> None:
        """Store an order's first payment, taking its aggregate lock first. PaymentExists
        (and nothing written) when the order has one already."""
        ...

    def save(self, payment: Payment) -> None:
        """Write the payment's changed status, reason and pix charge."""
        ...

    # add and save also record the provider calls the payment owes (``payment.calls``), at
    # most one of each kind per order (a call asked again is made again if it was done).


class ProviderCalls(Protocol):
    """The calls to the provider the payments owe (they are asked through ``Payment.calls``)."""

    def done(self, order_id: str, kind: ProviderCall) -> None:
        """The call succeeded: recorded in the transaction of its outcome."""
        ...


class Webhooks(Protocol):
    """The provider's webhooks received, by id."""

    def record(
        self,
        webhook_id: str,
        *,
        event_type: str,
        charge_id: str,
        order_id: str | None,
        outcome: str,
    ) -> bool:
        """Remember a webhook; False (and nothing written) when its id was seen before. Taken
        after the order's payment lock, so a redelivery racing the first waits and sees it."""
        ...


class PaymentExists(Exception):
    """The order has a payment already: there is one per order."""


class PaymentUnitOfWork(UnitOfWorkPort, Protocol):
    """What every payment use case works with."""

    @property
    def payments(self) -> Payments:
        """The payments."""
        ...

    @property
    def calls(self) -> ProviderCalls:
        """The calls to the provider owed."""
        ...

    @property
    def webhooks(self) -> Webhooks:
        """The provider's webhooks received."""
        ...

    @property
    def methods(self) -> Mapping[Method, PaymentMethod]:
        """The payment methods this service offers, by name."""
        ...
