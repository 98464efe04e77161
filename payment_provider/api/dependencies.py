"""What the provider's routes depend on: the merchant's key, the Idempotency-Key header, and
the charge use cases wired by main.create_app."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from pydantic import SecretStr

from payment_provider.application.charges import Charges
from servicekit.tokens import bearer_token


@dataclass(frozen=True, slots=True)
class ProviderContext:
    """Set on ``app.state.provider`` by create_app."""

    charges: Charges
    api_key: SecretStr


async def get_context(request: Request) -> ProviderContext:
    """The provider's wiring."""
    context: ProviderContext = request.app.state.provider
    return context


async def require_merchant(request: Request) -> None:
    """401 unless the request carries the merchant's API key as a bearer token."""
    context = await get_context(request)
    token = bearer_token(request.headers.get("authorization"))
    expected = context.api_key.get_secret_value()
    if token is None or not hmac.compare_digest(token.encode(), expected.encode()):
        raise HTTPException(
            401,
            "a valid merchant API key is required (Authorization: Bearer <key>)",
            headers={"WWW-Authenticate": 'Bearer realm="payment-provider"'},
        )


async def get_charges(request: Request) -> Charges:
    """The charge use cases."""
    return (await get_context(request)).charges


ChargesDep = Annotated[Charges, Depends(get_charges)]
MerchantOnly = Depends(require_merchant)
