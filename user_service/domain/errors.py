"""What the profile rules refuse; the API maps each to its status (api/errors.py)."""

from __future__ import annotations


class ProfileNotFound(Exception):
    """404: no profile for this user (yet: it is made from account.registered)."""

    def __init__(self) -> None:
        super().__init__(
            "profile not found (it is created from the registration event moments after sign-up)"
        )


class InvalidProfileChange(Exception):
    """422: a change the profile cannot take; the message names the field and why."""


class NationalIdTaken(Exception):
    """409: another profile holds this CPF (the message never repeats it)."""

    def __init__(self) -> None:
        super().__init__("national_id is already registered to another customer")
