"""The password rules (auth_service.domain.passwords): each rule on its own, every reason at
once, never the password in a refusal; the API and the use case apply the same rules."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from auth_service.api.schemas import RegisterRequest
from auth_service.domain.errors import WeakPassword
from auth_service.domain.passwords import check_password, password_problems
from tests.auth_service.unit.harness import Auth


@pytest.mark.parametrize(
    ("password", "email", "problem"),
    [
        ("abc1234", "", "must be at least 8 characters"),
        ("a1" * 64 + "x", "", "must be at most 128 characters"),
        ("only-letters-here", "", "must contain both letters and digits"),
        ("1234567890123", "", "must contain both letters and digits"),
        ("Password123", "", "is too common"),
        ("maria-2024-secret", "maria@example.com", "must not contain the email"),
    ],
)
def test_each_rule_refuses_on_its_own(password: str, email: str, problem: str) -> None:
    problems = password_problems(password, email)
    assert len(problems) == 1, problems
    assert problems[0].startswith(problem)


@pytest.mark.parametrize("password", ["correct-horse-42", "x" * 127 + "1", "Tr0ub4dor&3"])
def test_a_good_password_has_no_problem(password: str) -> None:
    assert password_problems(password, "someone@example.com") == []
    check_password(password, "someone@example.com")


def test_a_short_local_part_of_the_email_is_not_held_against_the_password() -> None:
    assert password_problems("bob-the-builder-7", "bob@example.com") == []
    assert password_problems("robert-the-builder-7", "robert@example.com") == [
        "must not contain the email address"
    ]


def test_every_reason_is_given_at_once_and_the_password_never() -> None:
    with pytest.raises(WeakPassword) as refused:
        check_password("qwerty", "")
    assert refused.value.problems == [
        "must be at least 8 characters",
        "must contain both letters and digits",
    ]
    assert str(refused.value) == (
        "password must be at least 8 characters; must contain both letters and digits"
    )
    assert "qwerty" not in str(refused.value)


def test_the_api_refuses_a_weak_password_as_the_field_error_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as refused:
        RegisterRequest(email="ann@example.com", password="annabel", full_name="Ann")
    (error,) = refused.value.errors()
    assert error["loc"] == ("password",)
    assert "at least 8 characters" in error["msg"] and "letters and digits" in error["msg"]
    assert "annabel" not in error["msg"]


def test_registering_applies_the_rules_too_and_writes_nothing(auth: Auth) -> None:
    with pytest.raises(WeakPassword, match="must not contain the email address"):
        auth.register("annabel@example.com", "annabel-1984")
    assert auth.store.accounts == {}
    assert auth.published() == []
