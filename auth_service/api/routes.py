"""Auth endpoints: thin wrappers that map domain errors to statuses."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from auth_service.api.schemas import (
    LoginRequest,
    RefreshRequest,
    RegisterRequest,
    RegisterResponse,
    TokenResponse,
)
from auth_service.application import handlers
from auth_service.application.handlers import AuthDeps, TokenPair
from auth_service.domain.errors import (
    BadCredentials,
    EmailTaken,
    InvalidRefreshToken,
    TooManyAttempts,
)
from servicekit.api import errors
from servicekit.forwarding import FORWARDING_SECRET_HEADER, ClientAddresses
from servicekit.web import CorrelationId, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/auth", tags=["auth"])


async def get_deps(runtime: RuntimeDep) -> AuthDeps:
    """The auth dependencies built at start-up."""
    deps: AuthDeps = runtime.extras["auth"]
    return deps


DepsDep = Annotated[AuthDeps, Depends(get_deps)]


def _tokens(pair: TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


def client_address(request: Request, runtime: RuntimeDep) -> str:
    """The caller's address: the gateway's X-Forwarded-For entry when the gateway proved it is
    the peer (servicekit.forwarding), else the peer itself."""
    addresses: ClientAddresses = runtime.extras["client_addresses"]
    peer = request.client.host if request.client else "unknown"
    forwarded = ",".join(request.headers.getlist("x-forwarded-for")) or None
    return addresses.client(peer, forwarded, request.headers.get(FORWARDING_SECRET_HEADER))


ClientAddress = Annotated[str, Depends(client_address)]


@router.post("/register", status_code=status.HTTP_201_CREATED, responses=errors(409))
def register(
    body: RegisterRequest, session: SessionDep, deps: DepsDep, correlation_id: CorrelationId
) -> RegisterResponse:
    """Create a customer account."""
    try:
        user_id = handlers.register(
            session,
            deps,
            email=str(body.email),
            password=body.password,
            full_name=body.full_name,
            correlation_id=correlation_id,
        )
    except EmailTaken:
        raise HTTPException(409, "an account with this email already exists") from None
    return RegisterResponse(user_id=user_id, email=str(body.email).lower())


@router.post("/login", responses=errors(401, 429))
def login(body: LoginRequest, address: ClientAddress, session: SessionDep, deps: DepsDep) -> Any:
    """Exchange email and password for a token pair."""
    try:
        pair = handlers.login(
            session,
            deps,
            email=body.email,
            password=body.password,
            address=address,
        )
    except BadCredentials:
        raise HTTPException(401, "invalid email or password") from None
    except TooManyAttempts as exc:
        return JSONResponse(
            {"detail": str(exc)}, status_code=429, headers={"Retry-After": str(exc.retry_after)}
        )
    return _tokens(pair)


@router.post("/refresh", responses=errors(401))
def refresh(body: RefreshRequest, session: SessionDep, deps: DepsDep) -> TokenResponse:
    """Rotate a refresh token."""
    try:
        return _tokens(handlers.refresh(session, deps, token=body.refresh_token))
    except InvalidRefreshToken as exc:
        raise HTTPException(401, str(exc)) from None


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(body: RefreshRequest, session: SessionDep) -> Response:
    """Revoke a refresh token (and its family)."""
    handlers.logout(session, token=body.refresh_token)
    return Response(status_code=204)


@router.get("/.well-known/jwks.json")
async def jwks(deps: DepsDep) -> JSONResponse:
    """The public keys that verify access tokens."""
    body = await run_in_threadpool(deps.issuer.jwks)
    return JSONResponse(body, headers={"Cache-Control": "public, max-age=60"})
