"""What can go wrong in the auth domain; the API maps each to a status."""


class AuthError(Exception):
    """Base class."""


class EmailTaken(AuthError):
    """409: an account with this email exists."""


class BadCredentials(AuthError):
    """401: unknown email or wrong password (never says which)."""


class TooManyAttempts(AuthError):
    """429: too many failed logins; retry later."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many failed login attempts, try again later")
        self.retry_after = retry_after


class InvalidRefreshToken(AuthError):
    """401: unknown, expired, revoked or reused refresh token."""
