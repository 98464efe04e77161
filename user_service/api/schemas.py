"""Request and response bodies of the users API (``/api/users``)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from servicekit.api import PostalAddress, RequestBody, Text
from user_service.domain import model
from user_service.domain.contact import (
    CPF_INPUT_PATTERN,
    E164_PATTERN,
    check_phone,
    parse_national_id,
)

# A CPF as clients may write it; the digits once validated (check digits, not all one digit).
NationalId = Annotated[
    str,
    Field(
        max_length=14,
        json_schema_extra={"pattern": CPF_INPUT_PATTERN},
        description="Brazilian CPF: 11 digits, with or without punctuation (123.456.789-09); "
        "check digits validated; stored and returned as its 11 digits",
        examples=["123.456.789-09"],
    ),
    AfterValidator(parse_national_id),
]
Phone = Annotated[
    str,
    Field(
        max_length=16,
        json_schema_extra={"pattern": E164_PATTERN},
        description="E.164: +, country code and number, no spaces",
        examples=["+5511987654321"],
    ),
    AfterValidator(check_phone),
]
Channel = Literal["email", "sms"]


class ProfileUpdate(RequestBody):
    """PATCH /api/users/me: only the fields given change."""

    # Optional, but not nullable: a name can be changed, never cleared (null -> 422).
    full_name: Annotated[Text, Field(min_length=1, max_length=200)] | SkipJsonSchema[None] = None
    phone: Phone | None = None
    addresses: list[PostalAddress] | None = Field(default=None, max_length=10)
    national_id: NationalId | None = Field(
        default=None, description="null forgets the CPF; another customer's CPF is 409"
    )
    # Optional, not nullable: [] means neither email nor SMS.
    notification_channels: Annotated[list[Channel], Field(max_length=2)] | SkipJsonSchema[None] = (
        Field(
            default=None,
            description='a subset of ["email", "sms"]; "sms" needs a phone. A guest gets neither '
            "email nor SMS: its channels are kept for when it registers",
        )
    )

    def changes(self) -> model.ProfileChanges:
        """The fields given, as the domain's change (InvalidProfileChange for a null name)."""
        given: dict[str, Any] = {name: getattr(self, name) for name in self.model_fields_set}
        if self.addresses is not None and "addresses" in given:
            given["addresses"] = tuple(model.Address(**a.model_dump()) for a in self.addresses)
        if self.notification_channels is not None and "notification_channels" in given:
            given["notification_channels"] = tuple(self.notification_channels)
        return model.ProfileChanges(**given)


class Profile(BaseModel):
    """A user's profile."""

    user_id: str
    email: str | None = Field(description="null for a guest, until it registers")
    full_name: str = Field(description='"Guest" for a guest, until it registers')
    phone: str | None
    addresses: list[PostalAddress]
    national_id: str | None = Field(
        description="the CPF: its 11 digits to its owner and in a lookup by CPF; masked "
        "(***.456.789-**) in the admin list"
    )
    notification_channels: list[Channel]
    roles: list[str]
    guest: bool

    @classmethod
    def of(cls, profile: model.Profile) -> Profile:
        """The profile as its owner sees it."""
        return cls(
            user_id=profile.user_id,
            email=profile.email,
            full_name=profile.full_name,
            phone=profile.phone,
            addresses=[PostalAddress(**dataclasses.asdict(a)) for a in profile.addresses],
            national_id=profile.national_id,
            notification_channels=list(profile.notification_channels),
            roles=list(profile.roles),
            guest=profile.guest,
        )


class ProfilePage(BaseModel):
    """GET /api/users."""

    items: list[Profile]
    page: int
    size: int
    total: int
