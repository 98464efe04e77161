"""In-memory fakes of the payment repository and unit of work: the rules' unit tests run on them
in milliseconds, and the repository contract tests hold them to the SQL implementation's
behaviour (tests/payment_service/integration/test_repository_contract.py)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field

from payment_service.application.ports import PaymentExists
from payment_service.domain.model import AGGREGATE, Method, Payment, PaymentMethod, ProviderCall
from servicekit.messaging.unit_of_work import Cause, InMemoryUnitOfWork


@dataclass
class PaymentStore:
    """What the fakes keep between units of work, as a database would: payments by order."""

    payments: dict[str, Payment] = field(default_factory=dict)
    # (order_id, kind) -> "pending" or "done": the provider calls owed, as provider_calls keeps.
    calls: dict[tuple[str, str], str] = field(default_factory=dict)
    webhooks: dict[str, str] = field(default_factory=dict)  # webhook id -> outcome


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
        self._request_calls(payment)
        self._uow.track(payment)

    def save(self, payment: Payment) -> None:
        """See Payments.save."""
        self._uow.pending[payment.order_id] = payment
        self._request_calls(payment)

    def _request_calls(self, payment: Payment) -> None:
        for kind in payment.calls:
            self._uow.pending_calls[(payment.order_id, kind.value)] = "pending"
        payment.calls.clear()


class InMemoryProviderCalls:
    """The calls owed, in the store's dict."""

    def __init__(self, uow: InMemoryPaymentUnitOfWork) -> None:
        self._uow = uow

    def done(self, order_id: str, kind: ProviderCall) -> None:
        """See ProviderCalls.done."""
        self._uow.pending_calls[(order_id, kind.value)] = "done"


class InMemoryWebhooks:
    """Webhook ids in a dict."""

    def __init__(self, store: PaymentStore, uow: InMemoryPaymentUnitOfWork) -> None:
        self._store = store
        self._uow = uow

    def record(
        self,
        webhook_id: str,
        *,
        event_type: str,
        charge_id: str,
        order_id: str | None,
        outcome: str,
    ) -> bool:
        """See Webhooks.record."""
        if webhook_id in self._store.webhooks or webhook_id in self._uow.pending_webhooks:
            return False
        self._uow.pending_webhooks[webhook_id] = outcome
        return True


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
        self.pending_calls: dict[tuple[str, str], str] = {}
        self.pending_webhooks: dict[str, str] = {}
        self.payments = InMemoryPayments(self.store, self)
        self.webhooks = InMemoryWebhooks(self.store, self)
        self.calls = InMemoryProviderCalls(self)
        self.methods: Mapping[Method, PaymentMethod] = methods or {}

    def _commit(self) -> None:
        super()._commit()
        for order_id, payment in self.pending.items():
            kept = copy.deepcopy(payment)
            kept.events = []
            self.store.payments[order_id] = kept
        self.store.calls.update(self.pending_calls)
        self.store.webhooks.update(self.pending_webhooks)
        self.rollback()

    def rollback(self) -> None:
        """Forget what was not committed."""
        super().rollback()
        self.pending.clear()
        self.pending_calls.clear()
        self.pending_webhooks.clear()
