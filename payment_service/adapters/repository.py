"""The SQL side of the payment use cases: the repository behind application/ports.py and the unit
of work that holds it.

The saga's statements are hand-written SQL (see ``servicekit.db.sql`` for why not Core): they
run once or twice per consumed event, one round trip each. Raw rows carry UUID columns as
uuid.UUID (the dialect registers the type) and ``amount`` as Decimal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy.orm import Session

from payment_service.application.ports import PaymentExists
from payment_service.domain.model import (
    AGGREGATE,
    Method,
    Payment,
    PaymentMethod,
    PaymentStatus,
)
from servicekit.db import sql
from servicekit.messaging.unit_of_work import Cause, SqlUnitOfWork

_LOAD_FOR_UPDATE = """
SELECT payment_id::text, customer_id::text, amount, currency, status, reason FROM payments
WHERE order_id = %(order_id)s::uuid
FOR UPDATE
"""

_INSERT = """
INSERT INTO payments (payment_id, order_id, customer_id, amount, currency, status, reason)
VALUES (%(payment_id)s::uuid, %(order_id)s::uuid, %(customer_id)s::uuid, %(amount)s,
        %(currency)s, %(status)s, %(reason)s)
ON CONFLICT (order_id) DO NOTHING
RETURNING payment_id
"""

_SAVE = """
UPDATE payments SET status = %(status)s, reason = %(reason)s, updated_at = now()
WHERE payment_id = %(payment_id)s::uuid
"""


class SqlPayments:
    """Payments in PostgreSQL, one row per order (``order_id`` is unique); every payment loaded
    for change or added is tracked by the unit of work, which publishes the events it recorded."""

    def __init__(self, uow: SqlPaymentUnitOfWork) -> None:
        self._uow = uow
        self._session = uow.session

    def get_for_update(self, order_id: str) -> Payment | None:
        """See Payments.get_for_update."""
        self._uow.lock(AGGREGATE, order_id)
        row = sql(self._session, _LOAD_FOR_UPDATE, {"order_id": order_id}).first()
        if row is None:
            return None
        payment_id, customer_id, amount, currency, status, reason = tuple(row)
        payment = Payment(
            payment_id=payment_id,
            order_id=order_id,
            customer_id=customer_id,
            amount=amount,
            currency=currency,
            status=PaymentStatus(status),
            reason=reason,
        )
        self._uow.track(payment)
        return payment

    def add(self, payment: Payment) -> None:
        """See Payments.add."""
        self._uow.lock(AGGREGATE, payment.order_id)
        inserted = sql(
            self._session,
            _INSERT,
            {
                "payment_id": payment.payment_id,
                "order_id": payment.order_id,
                "customer_id": payment.customer_id,
                "amount": payment.amount,
                "currency": payment.currency,
                "status": payment.status.value,
                "reason": payment.reason,
            },
        ).first()
        if inserted is None:
            raise PaymentExists(payment.order_id)
        self._uow.track(payment)

    def save(self, payment: Payment) -> None:
        """See Payments.save."""
        sql(
            self._session,
            _SAVE,
            {
                "payment_id": payment.payment_id,
                "status": payment.status.value,
                "reason": payment.reason,
            },
        )


class SqlPaymentUnitOfWork(SqlUnitOfWork):
    """The payment service's unit of work on PostgreSQL: the repository shares its session, and
    it carries the payment methods built from settings (main.py)."""

    def __init__(
        self,
        session: Session,
        *,
        methods: Mapping[Method, PaymentMethod],
        owns_transaction: bool = True,
        cause: Cause | None = None,
    ) -> None:
        super().__init__(session, owns_transaction=owns_transaction, cause=cause)
        self.payments = SqlPayments(self)
        self.methods = methods

    @classmethod
    def joining(
        cls, methods: Mapping[Method, PaymentMethod]
    ) -> Callable[[Session, Cause], SqlPaymentUnitOfWork]:
        """Builds units of work that join the inbox consumer's transaction (consumed events)."""

        def build(session: Session, cause: Cause) -> SqlPaymentUnitOfWork:
            return cls(session, methods=methods, owns_transaction=False, cause=cause)

        return build
