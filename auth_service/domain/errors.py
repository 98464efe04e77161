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


class TooManyAttempts(Exception):
    """429: too many failed logins; retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many failed login attempts, try again later")
        self.retry_after = retry_after


class InvalidRefreshToken(Exception):
    """401: unknown, expired, revoked or reused refresh token."""
