"""Request and response bodies of the users API (API.md, "Users")."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Address(BaseModel):
    """A delivery address."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    street: str = Field(min_length=1, max_length=200)
    number: str = Field(min_length=1, max_length=20)
    city: str = Field(min_length=1, max_length=100)
    state: str = Field(min_length=1, max_length=100)
    country: str = Field(min_length=2, max_length=100)
    zipcode: str = Field(min_length=1, max_length=20)


class ProfileUpdate(BaseModel):
    """PATCH /api/users/me: only the fields given change."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    full_name: str | None = Field(default=None, min_length=1, max_length=200)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9 ()\-]{6,20}$")
    addresses: list[Address] | None = Field(default=None, max_length=10)


class Profile(BaseModel):
    """A user's profile."""

    user_id: str
    email: str
    full_name: str
    phone: str | None
    addresses: list[Address]


class ProfilePage(BaseModel):
    """GET /api/users."""

    items: list[Profile]
    page: int
    size: int
    total: int
