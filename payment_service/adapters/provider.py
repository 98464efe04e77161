"""The simulated payment provider behind the ``card`` method: it answers at once, in process,
and declines above a configured limit (``PAYMENT_DECLINE_ABOVE``)."""

from __future__ import annotations

from decimal import Decimal

from payment_service.domain.model import Authorization, Authorized, Charge, Declined


class SimulatedProvider:
    """A PaymentMethod that declines amounts above ``decline_above`` (and nonsense amounts) and
    authorizes the rest."""

    def __init__(self, decline_above: Decimal) -> None:
        self.decline_above = decline_above

    def authorize(self, charge: Charge) -> Authorization:
        """Authorize up to the limit."""
        if charge.amount < 0:
            return Declined("invalid amount")
        if len(charge.currency) != 3:
            return Declined("invalid currency")
        if charge.amount > self.decline_above:
            return Declined(f"amount above the limit of {self.decline_above:.2f} {charge.currency}")
        return Authorized()
