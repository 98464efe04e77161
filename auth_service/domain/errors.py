"""What the auth rules refuse; the API maps each to its status (api/errors.py). No message
names the email or echoes a password."""

from __future__ import annotations


class EmailTaken(Exception):
    """409: an account with this email exists."""

    def __init__(self) -> None:
        super().__init__("an account with this email already exists")


class WeakPassword(ValueError):
    """422: the password breaks these rules (every one of them, never the password itself)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("password " + "; ".join(problems))
        self.problems = problems


class BadCredentials(Exception):
    """401: unknown email or wrong password (never says which)."""

    def __init__(self) -> None:
        super().__init__("invalid email or password")


class Throttled(Exception):
    """429: refused before any work, to be tried again after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooManyAttempts(Throttled):
    """429: too many failed logins; retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many failed login attempts, try again later", retry_after)


class TooManyGuests(Throttled):
    """429: too many guests were made from this client address; retry after ``retry_after``
    seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many guest accounts from this address, try again later", retry_after)


class InvalidRefreshToken(Exception):
    """401: unknown, expired, revoked or reused refresh token."""


class InvalidRoles(ValueError):
    """422: roles that cannot be granted (named), or none at all."""


class AccountNotFound(Exception):
    """404: no account has this user_id."""

    def __init__(self) -> None:
        super().__init__("no account with this user_id")


class NotAdmin(Exception):
    """403: the caller's account does not hold the admin role (any more: its token may be
    older than the change)."""

    def __init__(self) -> None:
        super().__init__("admin role required")


class OwnAdminRole(Exception):
    """409: an admin cannot take their own admin role away (another admin can), so the
    platform always keeps one."""

    def __init__(self) -> None:
        super().__init__("an admin cannot remove their own admin role; another admin has to do it")


class GuestRoles(Exception):
    """409: a guest's roles are not granted: the guest registers to become a customer."""

    def __init__(self) -> None:
        super().__init__(
            "a guest's roles cannot be changed; the guest registers to become a customer"
        )


class AlreadyRegistered(Exception):
    """409: register was called with the token of an account that is registered already."""

    def __init__(self) -> None:
        super().__init__(
            "the bearer token belongs to a registered account; only a guest's token converts"
            " the guest, register without a token to open another account"
        )


class UnknownAccount(Exception):
    """401: a valid token whose account does not exist here."""

    def __init__(self) -> None:
        super().__init__("the token's account does not exist")
