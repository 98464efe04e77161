"""Request and response bodies of the auth API (``/api/auth``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationInfo, field_validator

from auth_service.domain.passwords import MAX_PASSWORD_LENGTH, check_password
from auth_service.domain.roles import GRANTABLE, grantable_roles
from servicekit.api import RequestBody, Text


class RegisterRequest(RequestBody):
    """POST /api/auth/register."""

    email: EmailStr
    password: Text = Field(max_length=MAX_PASSWORD_LENGTH)
    full_name: Text = Field(min_length=1, max_length=200)

    @field_validator("password")
    @classmethod
    def strong_password(cls, password: str, info: ValidationInfo) -> str:
        """A weak password is refused with every reason at once (WeakPassword is a
        ValueError, which pydantic reports as this field's error)."""
        check_password(password, str(info.data.get("email", "")))
        return password


class RegisterResponse(BaseModel):
    """201 body."""

    model_config = ConfigDict(from_attributes=True)

    user_id: str
    email: str


class LoginRequest(RequestBody):
    """POST /api/auth/login."""

    email: Text = Field(min_length=3, max_length=320)
    password: Text = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class RefreshRequest(RequestBody):
    """POST /api/auth/refresh and /api/auth/logout."""

    refresh_token: Text = Field(min_length=10, max_length=200)


class TokenResponse(BaseModel):
    """A token pair."""

    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int


class GuestRequest(RequestBody):
    """POST /api/auth/guest: an empty object; nothing is asked of a guest."""


class GuestResponse(TokenResponse):
    """201 body: the new guest's user_id and its first token pair."""

    user_id: str


Role = Annotated[Text, Field(min_length=1, max_length=50)]


class RolesRequest(RequestBody):
    """PUT /api/auth/users/{user_id}/roles: every role the account is to hold."""

    roles: list[Role] = Field(
        min_length=1,
        max_length=10,
        description=f"some of {', '.join(sorted(GRANTABLE))}",
        examples=[["customer", "staff"]],
    )

    @field_validator("roles")
    @classmethod
    def only_grantable(cls, roles: list[str]) -> list[str]:
        """A role that cannot be granted is refused by name (InvalidRoles is a ValueError,
        which pydantic reports as this field's error)."""
        grantable_roles(roles)
        return roles


class RolesResponse(BaseModel):
    """200 body: the roles the account holds now."""

    user_id: str
    roles: list[str]
