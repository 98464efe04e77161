"""contracts.webhooks: what the provider signs, the merchant verifies, and nothing else."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from contracts.webhooks import InvalidSignature, sign, verify

SECRET = "whsec-test"
BODY = b'{"id":"0b6f","type":"charge.paid","charge_id":"c1","amount":"10.00"}'
NOW = 1_750_000_000


def test_a_good_signature_verifies_and_returns_its_timestamp() -> None:
    header = sign(SECRET, BODY, NOW)
    assert verify(SECRET, header, BODY, now=NOW + 10) == NOW


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    # Spelled out independently of the module, as a merchant in another language would.
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, NOW) == f"t={NOW},v1={expected}"


@pytest.mark.parametrize(
    ("header", "body", "secret", "message"),
    [
        (None, BODY, SECRET, "missing"),
        ("", BODY, SECRET, "missing"),
        ("garbage", BODY, SECRET, "malformed"),
        (f"t={NOW}", BODY, SECRET, "needs t= and v1="),
        ("v1=00", BODY, SECRET, "needs t= and v1="),
        (f"t=abc,v1={'0' * 64}", BODY, SECRET, "malformed timestamp"),
        (f"t={NOW},t={NOW},v1={'0' * 64}", BODY, SECRET, "malformed timestamp"),
        (f"t={NOW},v1={'0' * 64}", BODY, SECRET, "does not match"),
        # Right signature, but of another body, or with another secret.
        (sign(SECRET, BODY, NOW), BODY + b" ", SECRET, "does not match"),
        (sign("another-secret", BODY, NOW), BODY, SECRET, "does not match"),
    ],
)
def test_bad_signatures_are_refused(
    header: str | None, body: bytes, secret: str, message: str
) -> None:
    with pytest.raises(InvalidSignature, match=message):
        verify(secret, header, body, now=NOW)


def test_a_signed_timestamp_cannot_be_swapped_for_a_fresh_one() -> None:
    old = sign(SECRET, BODY, NOW - 3600)
    signature = old.split(",v1=")[1]
    with pytest.raises(InvalidSignature, match="does not match"):
        verify(SECRET, f"t={NOW},v1={signature}", BODY, now=NOW)


def test_stale_and_future_signatures_are_refused_beyond_the_tolerance() -> None:
    header = sign(SECRET, BODY, NOW)
    assert verify(SECRET, header, BODY, now=NOW + 300) == NOW  # at the edge: still fine
    with pytest.raises(InvalidSignature, match="too old"):
        verify(SECRET, header, BODY, now=NOW + 301)
    assert verify(SECRET, header, BODY, now=NOW - 300) == NOW
    with pytest.raises(InvalidSignature, match="in the future"):
        verify(SECRET, header, BODY, now=NOW - 301)
    with pytest.raises(InvalidSignature, match="too old"):
        verify(SECRET, header, BODY, now=NOW + 31, tolerance=30)


def test_any_of_several_v1_signatures_may_match_while_secrets_rotate() -> None:
    new = sign("new-secret", BODY, NOW).split(",v1=")[1]
    old = sign(SECRET, BODY, NOW).split(",v1=")[1]
    header = f"t={NOW},v1={new},v1={old}"
    assert verify(SECRET, header, BODY, now=NOW) == NOW
    assert verify("new-secret", header, BODY, now=NOW) == NOW


def test_unknown_schemes_are_ignored() -> None:
    header = sign(SECRET, BODY, NOW) + ",v0=deadbeef"
    assert verify(SECRET, header, BODY, now=NOW) == NOW


def test_an_empty_secret_is_a_configuration_error_not_a_valid_key() -> None:
    with pytest.raises(ValueError, match="empty"):
        sign("", BODY, NOW)
    with pytest.raises(ValueError, match="empty"):
        verify("", sign(SECRET, BODY, NOW), BODY, now=NOW)
