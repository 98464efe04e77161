"""The password rules: what a new account's password must be. A refusal names every rule the
password breaks at once, and never the password."""

from __future__ import annotations

import re

from auth_service.domain.errors import WeakPassword

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
# Local parts shorter than this are too likely to occur by chance to be refused.
MIN_EMAIL_PART_CHECKED = 4
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
    if len(local) >= MIN_EMAIL_PART_CHECKED and local in password.lower():
        problems.append("must not contain the email address")
    return problems


def check_password(password: str, email: str = "") -> None:
    """WeakPassword naming every rule ``password`` breaks; nothing when it is acceptable."""
    problems = password_problems(password, email)
    if problems:
        raise WeakPassword(problems)
