"""The pure checks of how a customer is identified and reached: the CPF with its check digits,
E.164 phone numbers, notification channels; and the API refusing each with a 422 that names the
field without repeating the value."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from user_service.api.schemas import ProfileUpdate
from user_service.domain.contact import (
    check_channels,
    check_phone,
    cpf_check_digits,
    mask_national_id,
    parse_national_id,
)


@pytest.mark.parametrize(
    ("written", "digits"),
    [
        ("123.456.789-09", "12345678909"),
        ("12345678909", "12345678909"),
        ("529.982.247-25", "52998224725"),
        ("52998224725", "52998224725"),
        ("529982247-25", "52998224725"),
        ("000.000.001-91", "00000000191"),  # leading zeros are digits like any other
    ],
)
def test_a_valid_cpf_with_or_without_punctuation_is_its_digits(written: str, digits: str) -> None:
    assert parse_national_id(written) == digits


def test_the_check_digits_are_the_weighted_sums_modulo_11() -> None:
    assert cpf_check_digits("123456789") == "09"
    assert cpf_check_digits("529982247") == "25"
    # A remainder of 10 gives a check digit of 0.
    assert cpf_check_digits("000000001") == "91"


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("123.456.789-00", "check digits do not match"),
        ("123.456.789-19", "check digits do not match"),
        ("52998224726", "check digits do not match"),
        ("111.111.111-11", "all its digits are the same"),  # its check digits are right
        ("00000000000", "all its digits are the same"),
        ("99999999999", "all its digits are the same"),
        ("1234567890", "11 digits"),
        ("123456789012", "11 digits"),
        ("", "11 digits"),
        ("123.456.789-0A", "11 digits"),
        ("abc.def.ghi-jk", "11 digits"),
        ("123 456 789 09", "11 digits"),
        ("123/456/789-09", "11 digits"),
        ("1.2.3.4.5.6.7.8.9.0.9", "11 digits"),
        ("١٢٣٤٥٦٧٨٩٠٩", "11 digits"),  # digits of another script are not CPF digits
    ],
)
def test_an_invalid_cpf_is_refused_saying_why(written: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as refused:
        parse_national_id(written)
    if written:
        assert written not in str(refused.value)


def test_a_listed_cpf_shows_only_its_middle_digits() -> None:
    assert mask_national_id("12345678909") == "***.456.789-**"


@pytest.mark.parametrize("phone", ["+5511987654321", "+14155550123", "+4930123456", "+1234567"])
def test_e164_numbers_are_accepted_as_written(phone: str) -> None:
    assert check_phone(phone) == phone


@pytest.mark.parametrize(
    "phone",
    [
        "5511987654321",  # no +
        "+55 11 98765-4321",  # punctuation: E.164 has none
        "+55(11)987654321",
        "+0511987654321",  # a country code never starts with 0
        "+1234567890123456",  # 16 digits
        "+123456",  # too short
        "+5511987654321x",
        "call me",
        "+" + "".join(chr(0xFF10 + int(d)) for d in "5511987654321"),  # full-width digits
    ],
)
def test_anything_but_e164_is_refused(phone: str) -> None:
    with pytest.raises(ValueError, match=r"E\.164"):
        check_phone(phone)


def test_channels_are_a_subset_of_email_and_sms_in_a_fixed_order() -> None:
    assert check_channels(["email"]) == ("email",)
    assert check_channels(["sms", "email"]) == ("email", "sms")
    assert check_channels(["sms", "sms"]) == ("sms",)
    assert check_channels([]) == ()
    for unknown in (["push"], ["email", "EMAIL"], [""]):
        with pytest.raises(ValueError, match="one of"):
            check_channels(unknown)


def test_the_request_normalises_the_cpf_and_keeps_the_channels_given() -> None:
    body = ProfileUpdate.model_validate(
        {
            "national_id": " 123.456.789-09 ",
            "phone": "+5511987654321",
            "notification_channels": ["sms", "email"],
        }
    )
    changes = body.changes()
    assert changes.national_id == "12345678909"
    assert changes.phone == "+5511987654321"
    assert changes.notification_channels == ("email", "sms")
    assert changes.named == ["phone", "national_id", "notification_channels"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"national_id": "123.456.789-00"}, "national_id"),
        ({"national_id": "111.111.111-11"}, "national_id"),
        ({"national_id": "1234567890"}, "national_id"),
        ({"national_id": 12345678909}, "national_id"),
        ({"phone": "+55 11 98765-4321"}, "phone"),
        ({"notification_channels": ["push"]}, "notification_channels"),
        ({"notification_channels": "email"}, "notification_channels"),
    ],
)
def test_the_request_refuses_each_bad_field_by_name(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        ProfileUpdate.model_validate(body)
    errors = refused.value.errors()
    assert errors and all(error["loc"][0] == field for error in errors)
    assert all(str(body[field]) not in error["msg"] for error in errors)
