"""Which status each refusal of the auth rules answers with (its message is the detail), and
the ones that need a header besides: 429 says when to try again."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from auth_service.domain.errors import (
    AccountNotFound,
    AlreadyRegistered,
    BadCredentials,
    EmailTaken,
    GuestRoles,
    InvalidRefreshToken,
    InvalidRoles,
    NotAdmin,
    OwnAdminRole,
    Throttled,
    UnknownAccount,
    WeakPassword,
)

ERROR_STATUSES: dict[type[Exception], int] = {
    EmailTaken: 409,
    AlreadyRegistered: 409,
    OwnAdminRole: 409,
    GuestRoles: 409,
    WeakPassword: 422,
    InvalidRoles: 422,
    BadCredentials: 401,
    InvalidRefreshToken: 401,
    UnknownAccount: 401,
    NotAdmin: 403,
    AccountNotFound: 404,
}


async def too_many_attempts(_: Request, exc: Exception) -> JSONResponse:
    """429 with Retry-After: a throttle refused the request before any work (a login before
    its password check, a guest before it was made)."""
    retry_after = exc.retry_after if isinstance(exc, Throttled) else 1
    return JSONResponse(
        {"detail": str(exc)}, status_code=429, headers={"Retry-After": str(retry_after)}
    )
