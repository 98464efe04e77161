"""Request and response bodies of the users API (``/api/users``)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from servicekit.api import PostalAddress, RequestBody, Text
from user_service.domain import model


class ProfileUpdate(RequestBody):
    """PATCH /api/users/me: only the fields given change."""

    # Optional, but not nullable: a name can be changed, never cleared (null -> 422).
    full_name: Annotated[Text, Field(min_length=1, max_length=200)] | SkipJsonSchema[None] = None
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9 ()\-]{6,20}$")
    addresses: list[PostalAddress] | None = Field(default=None, max_length=10)

    def changes(self) -> model.ProfileChanges:
        """The fields given, as the domain's change (InvalidProfileChange for a null name)."""
        given: dict[str, Any] = {name: getattr(self, name) for name in self.model_fields_set}
        if self.addresses is not None and "addresses" in given:
            given["addresses"] = tuple(model.Address(**a.model_dump()) for a in self.addresses)
        return model.ProfileChanges(**given)


class Profile(BaseModel):
    """A user's profile."""

    user_id: str
    email: str
    full_name: str
    phone: str | None
    addresses: list[PostalAddress]

    @classmethod
    def of(cls, profile: model.Profile) -> Profile:
        """The profile as the API shows it."""
        return cls(
            user_id=profile.user_id,
            email=profile.email,
            full_name=profile.full_name,
            phone=profile.phone,
            addresses=[PostalAddress(**dataclasses.asdict(a)) for a in profile.addresses],
        )


class ProfilePage(BaseModel):
    """GET /api/users."""

    items: list[Profile]
    page: int
    size: int
    total: int
