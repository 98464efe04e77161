"""The payment provider. Only a simulated one exists: it declines above a configured limit."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol


class PaymentProvider(Protocol):
    """Authorizes a charge, or says why not."""

    def authorize(self, amount: Decimal, currency: str) -> tuple[bool, str | None]:
        """``(True, None)`` when authorized, ``(False, reason)`` when declined."""
        ...


class SimulatedProvider:
    """Declines amounts above ``decline_above`` (and nonsense amounts), authorizes the rest."""

    def __init__(self, decline_above: Decimal) -> None:
        self.decline_above = decline_above

    def authorize(self, amount: Decimal, currency: str) -> tuple[bool, str | None]:
        """Authorize up to the limit."""
        if amount < 0:
            return False, "invalid amount"
        if len(currency) != 3:
            return False, "invalid currency"
        if amount > self.decline_above:
            return False, f"amount above the limit of {self.decline_above:.2f} {currency}"
        return True, None
