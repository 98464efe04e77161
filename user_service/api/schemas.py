"""Request and response bodies of the users API (API.md, "Users")."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from servicekit.api import RequestBody, Text


class Address(RequestBody):
    """A delivery address."""

    street: Text = Field(min_length=1, max_length=200)
    number: Text = Field(min_length=1, max_length=20)
    city: Text = Field(min_length=1, max_length=100)
    state: Text = Field(min_length=1, max_length=100)
    country: Text = Field(min_length=2, max_length=100)
    zipcode: Text = Field(min_length=1, max_length=20)


class ProfileUpdate(RequestBody):
    """PATCH /api/users/me: only the fields given change."""

    # Optional, but not nullable: a name can be changed, never cleared (null -> 422).
    full_name: Annotated[Text, Field(min_length=1, max_length=200)] | SkipJsonSchema[None] = None
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
