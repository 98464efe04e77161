"""Accounts and the password policy. Pure Python: no framework imports."""

from __future__ import annotations

import re
from dataclasses import dataclass

CUSTOMER = "customer"
ADMIN = "admin"

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
_COMMON = frozenset(
    {
        "password",
        "password1",
        "password123",
        "12345678",
        "123456789",
        "1234567890",
        "qwerty123",
        "qwertyuiop",
        "iloveyou1",
        "letmein123",
        "welcome1",
        "admin123",
        "abc12345",
        "11111111",
    }
)


@dataclass(frozen=True, slots=True)
class Account:
    """A registered identity."""

    user_id: str
    email: str
    full_name: str
    roles: tuple[str, ...]
    password_hash: str


def password_problems(password: str, email: str = "") -> list[str]:
    """Why a password is too weak; empty when it is acceptable."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"must be at most {MAX_PASSWORD_LENGTH} characters")
    if not re.search(r"[A-Za-z]", password) or not re.search(r"\d", password):
        problems.append("must contain both letters and digits")
    if password.lower() in _COMMON:
        problems.append("is too common")
    local = email.split("@", 1)[0].lower()
    if len(local) >= 4 and local in password.lower():
        problems.append("must not contain the email address")
    return problems


def normalise_email(email: str) -> str:
    """Emails are compared case-insensitively."""
    return email.strip().lower()
