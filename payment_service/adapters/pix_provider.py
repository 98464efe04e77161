"""The payment provider's HTTP API as payment_service calls it (httpx, bounded in time): create
a charge with an Idempotency-Key, find an order's charges, cancel one, refund one.

Every answer but a 2xx raises: ProviderUnavailable when trying again may work (no answer, a
timeout, 5xx, 429), ProviderRefused when it never will (any other 4xx).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from contracts.money import money_text


class ProviderError(Exception):
    """The provider did not do what was asked."""


class ProviderUnavailable(ProviderError):
    """No usable answer: retry later with the same idempotency key."""


class ProviderRefused(ProviderError):
    """The provider refused the request; repeating it changes nothing."""


@dataclass(frozen=True, slots=True)
class ProviderCharge:
    """A charge as the provider shows it."""

    charge_id: str
    status: str
    qr_code: str
    qr_code_png: str
    expires_at: datetime

    @classmethod
    def of(cls, body: dict[str, Any]) -> ProviderCharge:
        """From the provider's JSON."""
        return cls(
            charge_id=str(body["charge_id"]),
            status=str(body["status"]),
            qr_code=str(body["qr_code"]),
            qr_code_png=str(body["qr_code_png"]),
            expires_at=datetime.fromisoformat(str(body["expires_at"])),
        )


class PixProviderClient:
    """One per worker thread (it keeps its connections alive)."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float) -> None:
        self._client = httpx.Client(
            base_url=base_url,
            timeout=timeout,
            headers={"Authorization": f"Bearer {api_key}"},
            follow_redirects=False,
        )

    def create_charge(
        self,
        *,
        idempotency_key: str,
        amount: Decimal,
        currency: str,
        expires_in_seconds: int,
        reference: str,
    ) -> ProviderCharge:
        """A pending charge; the same key answers the charge it made before."""
        body = {
            "amount": money_text(amount),
            "currency": currency,
            "expires_in_seconds": expires_in_seconds,
            "reference": reference,
            "description": f"Order {reference}",
        }
        return ProviderCharge.of(self._call("POST", "/charges", json=body, key=idempotency_key))

    def charges_of(self, reference: str) -> list[ProviderCharge]:
        """The charges made with this reference (an order id), newest first."""
        found = self._call("GET", "/charges", params={"reference": reference, "limit": 100})
        return [ProviderCharge.of(item) for item in found]

    def cancel_charge(self, charge_id: str) -> ProviderCharge:
        """Withdraw a pending charge (a cancelled or expired one is answered as it is)."""
        return ProviderCharge.of(self._call("POST", f"/charges/{charge_id}/cancel"))

    def refund_charge(self, charge_id: str, *, idempotency_key: str) -> ProviderCharge:
        """Give a paid charge's money back, once."""
        return ProviderCharge.of(
            self._call("POST", f"/charges/{charge_id}/refund", key=idempotency_key)
        )

    def close(self) -> None:
        """Close the kept-alive connections."""
        self._client.close()

    def _call(self, method: str, path: str, *, key: str | None = None, **kwargs: Any) -> Any:
        headers = {"Idempotency-Key": key} if key is not None else {}
        try:
            response = self._client.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"{method} {path}: {type(exc).__name__}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise ProviderUnavailable(f"{method} {path}: {response.status_code}")
        if response.status_code >= 400:
            detail = _detail(response)
            raise ProviderRefused(f"{method} {path}: {response.status_code} {detail}")
        return response.json()


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", ""))[:300]
    except ValueError:
        return ""
