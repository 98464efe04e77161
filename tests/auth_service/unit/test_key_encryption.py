"""The key-encryption key setting (auth_service.adapters.key_encryption): required, validated
without echoing it, newest key encrypts, older keys still decrypt, rotation re-encrypts."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from auth_service.adapters.key_encryption import KeyEncryptionKeys
from auth_service.application.ports import KeyEncryptionError
from auth_service.application.signing_keys import generate_key

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def keys(value: str) -> KeyEncryptionKeys:
    return KeyEncryptionKeys.from_setting(SecretStr(value))


@pytest.mark.parametrize("value", ["", " ", ",", " , "])
def test_a_missing_key_is_refused_with_how_to_make_one(value: str) -> None:
    with pytest.raises(KeyEncryptionError, match="AUTH_KEY_ENCRYPTION_KEY is not set"):
        keys(value)


def test_a_malformed_key_is_refused_without_echoing_it() -> None:
    bad = "not-a-fernet-key-but-a-secret-nonetheless"
    with pytest.raises(KeyEncryptionError, match="key 2 of 2 is not a Fernet key") as error:
        keys(f"{NEW},{bad}")
    assert bad not in str(error.value)


def test_old_keys_decrypt_and_rotation_moves_everything_to_the_newest() -> None:
    under_old = keys(OLD).encrypt(b"private pem")
    rotated_ring = keys(f"{NEW}, {OLD}")
    assert rotated_ring.decrypt(under_old) == b"private pem"
    moved = rotated_ring.reencrypt(under_old)
    assert keys(NEW).decrypt(moved) == b"private pem"
    with pytest.raises(KeyEncryptionError, match="cannot be decrypted"):
        keys(NEW).decrypt(under_old)


def test_an_altered_ciphertext_is_refused() -> None:
    ring = keys(NEW)
    token = bytearray(ring.encrypt(b"private pem").encode())
    token[-5] = ord("A") if token[-5] != ord("A") else ord("B")
    with pytest.raises(KeyEncryptionError):
        ring.decrypt(token.decode())


def test_a_new_signing_key_leaves_only_as_ciphertext_and_a_public_jwk() -> None:
    kid, ciphertext, jwk = generate_key(keys(NEW))
    assert "PRIVATE KEY" not in ciphertext
    assert b"BEGIN PRIVATE KEY" in keys(NEW).decrypt(ciphertext)
    assert jwk["kid"] == kid and jwk["kty"] == "RSA" and "d" not in jwk
