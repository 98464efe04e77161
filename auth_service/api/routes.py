"""Auth endpoints: each one call to the application (application/service.py). Domain errors
become statuses in api/errors.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from auth_service.api.schemas import (
    LoginRequest,
    RefreshRequest,
    RegisterRequest,
    RegisterResponse,
    TokenResponse,
)
from auth_service.application.service import AuthService, TokenPair
from servicekit.api import errors
from servicekit.dependencies import RuntimeDep
from servicekit.forwarding import FORWARDING_SECRET_HEADER, ClientAddresses

router = APIRouter(prefix="/api/auth", tags=["auth"])


async def get_auth(runtime: RuntimeDep) -> AuthService:
    """The auth use cases, wired at start-up (main.py)."""
    auth: AuthService = runtime.extras["auth"]
    return auth


AuthDep = Annotated[AuthService, Depends(get_auth)]


def client_address(request: Request, runtime: RuntimeDep) -> str:
    """The caller's address: the gateway's X-Forwarded-For entry when the gateway proved it is
    the peer (servicekit.forwarding), else the peer itself."""
    addresses: ClientAddresses = runtime.extras["client_addresses"]
    peer = request.client.host if request.client else "unknown"
    forwarded = ",".join(request.headers.getlist("x-forwarded-for")) or None
    return addresses.client(peer, forwarded, request.headers.get(FORWARDING_SECRET_HEADER))


ClientAddress = Annotated[str, Depends(client_address)]


def _tokens(pair: TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.post("/register", status_code=status.HTTP_201_CREATED, responses=errors(409))
def register(body: RegisterRequest, auth: AuthDep) -> RegisterResponse:
    """Create a customer account."""
    account = auth.register(email=str(body.email), password=body.password, full_name=body.full_name)
    return RegisterResponse(user_id=account.user_id, email=account.email)


@router.post("/login", responses=errors(401, 429))
def login(body: LoginRequest, address: ClientAddress, auth: AuthDep) -> TokenResponse:
    """Exchange email and password for a token pair."""
    return _tokens(auth.log_in(email=body.email, password=body.password, address=address))


@router.post("/refresh", responses=errors(401))
def refresh(body: RefreshRequest, auth: AuthDep) -> TokenResponse:
    """Rotate a refresh token."""
    return _tokens(auth.refresh(body.refresh_token))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(body: RefreshRequest, auth: AuthDep) -> Response:
    """Revoke a refresh token (and its family)."""
    auth.log_out(body.refresh_token)
    return Response(status_code=204)


@router.get("/.well-known/jwks.json")
async def jwks(auth: AuthDep) -> JSONResponse:
    """The public keys that verify access tokens."""
    body = await run_in_threadpool(auth.issuer.jwks)
    return JSONResponse(body, headers={"Cache-Control": "public, max-age=60"})
