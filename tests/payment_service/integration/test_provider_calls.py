"""What wakes the charging workers, against PostgreSQL: the commit of a transaction that made
provider calls due calls back with their number (a rolled back one does not), and an idle worker
learns from the database how long it may sleep before the next call falls due."""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager

import pytest
from sqlalchemy.orm import Session, sessionmaker

from payment_service.adapters import provider_calls
from payment_service.adapters.repository import SqlPaymentUnitOfWork, on_calls_requested
from servicekit.messaging.unit_of_work import transaction
from tests.payment_service.support import pix_opened

pytestmark = pytest.mark.integration


def test_a_committed_call_rings_once_per_call_and_a_rolled_back_one_not_at_all(
    sessions: sessionmaker[Session],
) -> None:
    rung: list[int] = []
    on_calls_requested(sessions, rung.append)

    def unit_of_work() -> AbstractContextManager[SqlPaymentUnitOfWork]:
        return transaction(sessions, lambda s: SqlPaymentUnitOfWork(s, methods={}))

    with pytest.raises(RuntimeError), unit_of_work() as uow:
        uow.payments.add(pix_opened())  # owes the provider a charge
        raise RuntimeError("rolled back")
    assert rung == []
    with unit_of_work() as uow:
        uow.payments.add(pix_opened())
        uow.payments.add(pix_opened())
    assert rung == [2]
    with unit_of_work() as uow:  # nothing owed: no ring
        uow.payments.get_for_update(str(uuid.uuid4()))
    assert rung == [2]


def test_an_idle_worker_sleeps_until_the_next_call_is_due(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session, session.begin():
        assert provider_calls.seconds_to_next_due(session) is None
    with transaction(sessions, lambda s: SqlPaymentUnitOfWork(s, methods={})) as uow:
        uow.payments.add(pix_opened())
    with sessions() as session, session.begin():
        next_due = provider_calls.seconds_to_next_due(session)
        assert next_due is not None
        assert next_due <= 0  # due now
    with sessions() as session, session.begin():
        assert provider_calls.claim_due(session, lease=30) is not None
    with sessions() as session, session.begin():
        next_due = provider_calls.seconds_to_next_due(session)
        assert next_due is not None
        assert 25 < next_due <= 30  # when the lease ends, should its worker die
