"""Auth endpoints: each one call to the application (application/service.py). Domain errors
become statuses in api/errors.py."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from auth_service.api.schemas import (
    GuestRequest,
    GuestResponse,
    LoginRequest,
    RefreshRequest,
    RegisterRequest,
    RegisterResponse,
    RolesRequest,
    RolesResponse,
    TokenResponse,
)
from auth_service.application.service import AuthService, TokenPair
from servicekit.api import errors
from servicekit.dependencies import AdminUser, RuntimeDep, get_principal
from servicekit.forwarding import FORWARDING_SECRET_HEADER, ClientAddresses
from servicekit.tokens import Principal

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


async def optional_caller(request: Request, runtime: RuntimeDep) -> Principal | None:
    """The caller of a request that carries an Authorization header, verified as every service
    verifies it (401 when it is not a valid token); None without one."""
    if "authorization" not in request.headers:
        return None
    return await get_principal(request, runtime, None)


OptionalCaller = Annotated[Principal | None, Depends(optional_caller)]


def _tokens(pair: TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in
    )


@router.post("/register", status_code=status.HTTP_201_CREATED, responses=errors(401, 409))
def register(body: RegisterRequest, auth: AuthDep, caller: OptionalCaller) -> RegisterResponse:
    """Create a customer account. With a guest's bearer token, that guest becomes the customer
    and keeps its user_id; with a registered account's token, 409."""
    account = auth.register(
        email=str(body.email), password=body.password, full_name=body.full_name, caller=caller
    )
    return RegisterResponse.model_validate(account)


@router.post("/guest", status_code=status.HTTP_201_CREATED, responses=errors(429))
def guest(address: ClientAddress, auth: AuthDep, body: GuestRequest | None = None) -> GuestResponse:
    """Create an anonymous customer (role guest) and its token pair; limited per client
    address."""
    user_id, pair = auth.create_guest(address=address)
    return GuestResponse(user_id=user_id, **_tokens(pair).model_dump())


@router.put("/users/{user_id}/roles", responses=errors(403, 404, 409))
def set_roles(user_id: UUID, body: RolesRequest, admin: AdminUser, auth: AuthDep) -> RolesResponse:
    """Set the roles an account holds (admin); its tokens show them from their next refresh."""
    account = auth.change_roles(user_id=str(user_id), roles=body.roles, changed_by=admin.user_id)
    return RolesResponse(user_id=account.user_id, roles=list(account.roles))


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
