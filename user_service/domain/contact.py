"""How a customer is identified and reached: the CPF (Brazil's individual taxpayer number, the
``national_id``), a phone number in E.164 and the notification channels. Pure functions: the API
validates requests with them and the domain checks every change with them.

Errors are ``ValueError`` with a reason that never repeats the value: a CPF is personal data and
a refusal's message may end up in a log line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# 11 digits, as stored, or written with the usual punctuation: 123.456.789-09 (each mark optional).
_CPF_INPUT = re.compile(r"\d{3}\.?\d{3}\.?\d{3}-?\d{2}", re.ASCII)
CPF_INPUT_PATTERN = r"^\d{3}\.?\d{3}\.?\d{3}-?\d{2}$"

# E.164: "+", a country code that does not start with 0, at most 15 digits in all.
_E164 = re.compile(r"\+[1-9]\d{6,14}", re.ASCII)
E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"

# The channels a customer may be notified on, in the order they are listed.
CHANNELS = ("email", "sms")
DEFAULT_CHANNELS = ("email",)


def cpf_check_digits(first_nine: str) -> str:
    """The two check digits of a CPF's first nine digits (each a weighted sum modulo 11)."""
    digits = [int(d) for d in first_nine]
    for weight_from in (10, 11):
        total = sum(d * w for d, w in zip(digits, range(weight_from, 1, -1), strict=True))
        remainder = total * 10 % 11
        digits.append(0 if remainder == 10 else remainder)
    return f"{digits[-2]}{digits[-1]}"


def parse_national_id(text: str) -> str:
    """The CPF as its 11 digits: with or without punctuation on input, check digits right, not
    one digit repeated (111.111.111-11 passes the check digits but is no one's)."""
    if not _CPF_INPUT.fullmatch(text):
        raise ValueError("must be a CPF: 11 digits, optionally written 123.456.789-09")
    digits = text.replace(".", "").replace("-", "")
    if len(set(digits)) == 1:
        raise ValueError("is not a valid CPF: all its digits are the same")
    if cpf_check_digits(digits[:9]) != digits[9:]:
        raise ValueError("is not a valid CPF: its check digits do not match")
    return digits


def mask_national_id(digits: str) -> str:
    """A CPF as lists show it: only the middle six digits (the masking the Brazilian
    government uses when it publishes one), ``***.456.789-**``."""
    return f"***.{digits[3:6]}.{digits[6:9]}-**"


def check_phone(text: str) -> str:
    """A phone number in E.164 (``+5511987654321``): no spaces, dashes or parentheses."""
    if not _E164.fullmatch(text):
        raise ValueError("must be in E.164 format: +, country code and number, e.g. +5511987654321")
    return text


def check_channels(channels: Iterable[str]) -> tuple[str, ...]:
    """The channels as a set in a fixed order (a channel named twice counts once); an empty
    set means no notification by email or SMS."""
    given = set(channels)
    if not given <= set(CHANNELS):
        raise ValueError(f"each channel must be one of {list(CHANNELS)}")
    return tuple(channel for channel in CHANNELS if channel in given)
