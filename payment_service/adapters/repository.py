"""The SQL side of the payment use cases: the repository behind application/ports.py and the unit
of work that holds it.

The saga's statements are hand-written SQL (see ``servicekit.db.sql`` for why not Core): they
run once or twice per consumed event, one round trip each. Raw rows carry UUID columns as
uuid.UUID (the dialect registers the type) and ``amount`` as Decimal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy.orm import Session, sessionmaker

from payment_service.application.ports import PaymentExists
from payment_service.domain.model import (
    AGGREGATE,
    Method,
    Payment,
    PaymentMethod,
    PaymentStatus,
    PixCharge,
    ProviderCall,
)
from servicekit.db import note_for_commit, on_commit_of, sql
from servicekit.ids import new_id
from servicekit.messaging.unit_of_work import Cause, SqlUnitOfWork

_LOAD_FOR_UPDATE = """
SELECT payment_id::text, customer_id::text, amount, currency, status, reason, method,
       charge_id::text, qr_code, qr_code_png, expires_at, deadline_at
FROM payments
WHERE order_id = %(order_id)s::uuid
FOR UPDATE
"""

_INSERT = """
INSERT INTO payments (payment_id, order_id, customer_id, amount, currency, status, reason, method,
                      deadline_at)
VALUES (%(payment_id)s::uuid, %(order_id)s::uuid, %(customer_id)s::uuid, %(amount)s,
        %(currency)s, %(status)s, %(reason)s, %(method)s, %(deadline_at)s)
ON CONFLICT (order_id) DO NOTHING
RETURNING payment_id
"""

_SAVE = """
UPDATE payments SET status = %(status)s, reason = %(reason)s, charge_id = %(charge_id)s::uuid,
       qr_code = %(qr_code)s, qr_code_png = %(qr_code_png)s, expires_at = %(expires_at)s,
       updated_at = now()
WHERE payment_id = %(payment_id)s::uuid
"""

# A call asked again (a cancel, once the charge it withdraws is known) is made again.
_REQUEST_CALL = """
INSERT INTO provider_calls (call_id, order_id, kind)
VALUES (%(call_id)s::uuid, %(order_id)s::uuid, %(kind)s)
ON CONFLICT (order_id, kind) DO UPDATE
SET status = 'pending', next_attempt_at = now(), done_at = NULL
WHERE provider_calls.status = 'done'
"""

_RECORD_WEBHOOK = """
INSERT INTO provider_webhooks (webhook_id, event_type, charge_id, order_id, outcome)
VALUES (%(webhook_id)s, %(event_type)s, %(charge_id)s::uuid, %(order_id)s::uuid, %(outcome)s)
ON CONFLICT (webhook_id) DO NOTHING
RETURNING webhook_id
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
        payment_id, customer_id, amount, currency, status, reason, method = tuple(row)[:7]
        charge_id, qr_code, qr_code_png, expires_at, deadline_at = tuple(row)[7:]
        payment = Payment(
            payment_id=payment_id,
            order_id=order_id,
            customer_id=customer_id,
            amount=amount,
            currency=currency,
            status=PaymentStatus(status),
            reason=reason,
            method=Method(method),
            pix=(
                PixCharge(charge_id, qr_code, qr_code_png, expires_at)
                if charge_id is not None
                else None
            ),
            deadline_at=deadline_at,
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
                "method": payment.method.value,
                "deadline_at": payment.deadline_at,
            },
        ).first()
        if inserted is None:
            raise PaymentExists(payment.order_id)
        if payment.pix is not None:
            self.save(payment)
        self._request_calls(payment)
        self._uow.track(payment)

    def save(self, payment: Payment) -> None:
        """See Payments.save."""
        pix = payment.pix
        sql(
            self._session,
            _SAVE,
            {
                "payment_id": payment.payment_id,
                "status": payment.status.value,
                "reason": payment.reason,
                "charge_id": pix.charge_id if pix else None,
                "qr_code": pix.qr_code if pix else None,
                "qr_code_png": pix.qr_code_png if pix else None,
                "expires_at": pix.expires_at if pix else None,
            },
        )
        self._request_calls(payment)

    def _request_calls(self, payment: Payment) -> None:
        for kind in payment.calls:
            parameters = {"call_id": str(new_id()), "order_id": payment.order_id, "kind": kind}
            sql(self._session, _REQUEST_CALL, parameters)
            note_for_commit(self._session, _CALLS_REQUESTED, kind)
        payment.calls.clear()


_CALLS_REQUESTED = "payment_service.calls_requested"


def on_calls_requested(sessions: sessionmaker[Session], callback: Callable[[int], None]) -> None:
    """Call ``callback`` with their number after each commit of a ``sessions`` transaction that
    made provider calls due (the charging workers sleep until then)."""
    on_commit_of(sessions, _CALLS_REQUESTED, lambda calls: callback(len(calls)))


_CALL_DONE = """
UPDATE provider_calls SET status = 'done', done_at = now(), last_error = NULL
WHERE order_id = %(order_id)s::uuid AND kind = %(kind)s
"""


class SqlProviderCalls:
    """The provider calls owed, in PostgreSQL (``provider_calls``; the worker's own queries are
    in adapters/provider_calls.py)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def done(self, order_id: str, kind: ProviderCall) -> None:
        """See ProviderCalls.done."""
        sql(self._session, _CALL_DONE, {"order_id": order_id, "kind": kind.value})


class SqlWebhooks:
    """The provider's webhooks received, in PostgreSQL (``provider_webhooks``)."""

    def __init__(self, session: Session) -> None:
        self._session = session

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
        parameters = {
            "webhook_id": webhook_id,
            "event_type": event_type,
            "charge_id": charge_id,
            "order_id": order_id,
            "outcome": outcome,
        }
        return sql(self._session, _RECORD_WEBHOOK, parameters).first() is not None


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
        self.webhooks = SqlWebhooks(session)
        self.calls = SqlProviderCalls(session)
        self.methods = methods

    @classmethod
    def joining(
        cls, methods: Mapping[Method, PaymentMethod]
    ) -> Callable[[Session, Cause], SqlPaymentUnitOfWork]:
        """Builds units of work that join the inbox consumer's transaction (consumed events)."""

        def build(session: Session, cause: Cause) -> SqlPaymentUnitOfWork:
            return cls(session, methods=methods, owns_transaction=False, cause=cause)

        return build
