"""In-memory fakes of the payment repository and unit of work: the rules' unit tests run on them
in milliseconds, and the repository contract tests hold them to the SQL implementation's
behaviour (tests/payment_service/integration/test_repository_contract.py)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field

from payment_service.application.ports import PaymentExists
from payment_service.domain.model import AGGREGATE, Method, Payment, PaymentMethod
from servicekit.messaging.unit_of_work import Cause, InMemoryUnitOfWork


@dataclass
class PaymentStore:
    """What the fakes keep between units of work, as a database would: payments by order."""

    payments: dict[str, Payment] = field(default_factory=dict)


class InMemoryPayments:
    """Payments in a dict; loads hand out copies, as rows would."""

    def __init__(self, store: PaymentStore, uow: InMemoryPaymentUnitOfWork) -> None:
        self._store = store
        self._uow = uow

    def get_for_update(self, order_id: str) -> Payment | None:
        """See Payments.get_for_update."""
        self._uow.lock(AGGREGATE, order_id)
        stored = self._uow.pending.get(order_id) or self._store.payments.get(order_id)
        if stored is None:
            return None
        payment = copy.deepcopy(stored)
        payment.events = []
        self._uow.track(payment)
        return payment

    def add(self, payment: Payment) -> None:
        """See Payments.add."""
        self._uow.lock(AGGREGATE, payment.order_id)
        if payment.order_id in self._uow.pending or payment.order_id in self._store.payments:
            raise PaymentExists(payment.order_id)
        self._uow.pending[payment.order_id] = payment
        self._uow.track(payment)

    def save(self, payment: Payment) -> None:
        """See Payments.save."""
        self._uow.pending[payment.order_id] = payment


class InMemoryPaymentUnitOfWork(InMemoryUnitOfWork):
    """The payment unit of work on a PaymentStore: changes reach the store only on commit."""

    def __init__(
        self,
        store: PaymentStore | None = None,
        cause: Cause | None = None,
        *,
        methods: Mapping[Method, PaymentMethod] | None = None,
    ) -> None:
        super().__init__(cause)
        self.store = store or PaymentStore()
        self.pending: dict[str, Payment] = {}
        self.payments = InMemoryPayments(self.store, self)
        self.methods: Mapping[Method, PaymentMethod] = methods or {}

    def _commit(self) -> None:
        super()._commit()
        for order_id, payment in self.pending.items():
            kept = copy.deepcopy(payment)
            kept.events = []
            self.store.payments[order_id] = kept
        self.rollback()

    def rollback(self) -> None:
        """Forget what was not committed."""
        super().rollback()
        self.pending.clear()
