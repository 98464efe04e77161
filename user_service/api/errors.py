"""Which status each refusal of the profile rules answers with (its message is the detail)."""

from __future__ import annotations

from user_service.domain.errors import InvalidProfileChange, NationalIdTaken, ProfileNotFound

ERROR_STATUSES: dict[type[Exception], int] = {
    ProfileNotFound: 404,
    InvalidProfileChange: 422,
    NationalIdTaken: 409,
}
