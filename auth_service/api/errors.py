"""Which status each refusal of the auth rules answers with (its message is the detail), and
the one that needs a header besides: 429 says when to try again."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from auth_service.domain.errors import (
    BadCredentials,
    EmailTaken,
    InvalidRefreshToken,
    TooManyAttempts,
    WeakPassword,
)

ERROR_STATUSES: dict[type[Exception], int] = {
    EmailTaken: 409,
    WeakPassword: 422,
    BadCredentials: 401,
    InvalidRefreshToken: 401,
}


async def too_many_attempts(_: Request, exc: Exception) -> JSONResponse:
    """429 with Retry-After: the throttle refused the attempt before any password check."""
    retry_after = exc.retry_after if isinstance(exc, TooManyAttempts) else 1
    return JSONResponse(
        {"detail": str(exc)}, status_code=429, headers={"Retry-After": str(retry_after)}
    )
