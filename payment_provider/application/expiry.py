"""The expiry worker: pending charges past ``expires_at`` become expired, on schedule.

Reads and payments check the time too (domain.model.Charge.pay), so a late or stopped worker
only delays the ``charge.expired`` webhook, never lets an expired charge be paid. Several
workers may run: each expires the charges it can lock (``SKIP LOCKED``).
"""

from __future__ import annotations

import threading

from sqlalchemy.orm import Session, sessionmaker

from payment_provider.application.charges import Charges
from servicekit.logging import get_logger

log = get_logger(__name__)


def run_expiry(
    sessions: sessionmaker[Session],
    charges: Charges,
    stop: threading.Event,
    *,
    interval: float,
    batch_size: int = 100,
) -> None:
    """Every ``interval`` seconds, expire whatever is due (in batches) until ``stop`` is set."""
    log.info("charge_expiry_started", interval_seconds=interval)
    while not stop.is_set():
        try:
            with sessions() as session:
                while charges.expire_due(session, limit=batch_size) == batch_size:
                    if stop.is_set():
                        break
        except Exception as exc:  # noqa: BLE001 - e.g. the database is down: next round
            log.warning("charge_expiry_pass_failed", error=repr(exc))
        stop.wait(interval)
    log.info("charge_expiry_stopped")
