"""RS256 signing keys: generated on first start, kept in the service's database (never in the
repository) encrypted under the key-encryption key, published as a JWKS. Several keys may be
published at once, so a new key can take over signing while tokens signed by the old one stay
valid until they expire.

The JWKS is derived from the private keys this service can decrypt, and each must match the
public key stored beside it: write access to the table alone cannot publish a key, since a key
only counts once it decrypts under the key-encryption key."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from auth_service.application.ports import KeyCipher, KeyEncryptionError, SigningKeys, StoredKey
from servicekit.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class SigningKey:
    """A private key with its key id."""

    kid: str
    private_key: rsa.RSAPrivateKey


def _public_jwk(private: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
    return jwk


def generate_key(cipher: KeyCipher) -> tuple[str, str, dict[str, Any]]:
    """A fresh RSA-2048 key: (kid, private PEM encrypted under the KEK, public JWK)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = uuid.uuid4().hex
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return kid, cipher.encrypt(pem), _public_jwk(private, kid)


def ensure_signing_key(keys: SigningKeys, cipher: KeyCipher) -> None:
    """At start: encrypt keys kept in clear by older versions, create the first key if there is
    none, and check that the KEK opens every key, so a wrong KEK stops the start instead of
    failing requests."""
    keys.lock()
    encrypted = encrypt_plaintext_keys(keys, cipher)
    if encrypted:
        log.info("signing_keys_encrypted", keys=encrypted)
    if not keys.stored():
        add_key(keys, cipher)
    for stored in keys.stored():
        open_key(stored, cipher)


def encrypt_plaintext_keys(keys: SigningKeys, cipher: KeyCipher) -> int:
    """Encrypt every key still kept as a plaintext PEM and clear the plaintext; returns how
    many. (PostgreSQL keeps the old row versions until VACUUM reclaims them.)"""
    in_clear = keys.in_clear()
    for stored in in_clear:
        assert stored.private_pem is not None  # in_clear() returns only these
        keys.store_encrypted(stored.kid, cipher.encrypt(stored.private_pem.encode()))
    return len(in_clear)


def reencrypt_all(keys: SigningKeys, cipher: KeyCipher) -> int:
    """Re-encrypt every key under the newest KEK (after a KEK rotation); returns how many.
    Keys in clear are encrypted on the way."""
    keys.lock()
    encrypt_plaintext_keys(keys, cipher)
    stored = keys.stored(for_update=True)
    for key in stored:
        assert key.private_key_encrypted is not None  # encrypted just above
        keys.store_encrypted(key.kid, cipher.reencrypt(key.private_key_encrypted))
    return len(stored)


def add_key(keys: SigningKeys, cipher: KeyCipher) -> str:
    """Add a new key; it signs from now on. Returns its kid."""
    keys.lock()
    kid, ciphertext, jwk = generate_key(cipher)
    keys.add(kid, ciphertext, jwk)
    return kid


def retire_all_but_newest(keys: SigningKeys) -> int:
    """Stop publishing every key but the newest (once the tokens it signed have expired)."""
    newest = keys.stored()[0]
    return keys.retire_all_but(newest.kid)


def open_key(stored: StoredKey, cipher: KeyCipher) -> tuple[rsa.RSAPrivateKey, dict[str, Any]]:
    """A stored key's private key and its JWK, checked against the public key stored with it."""
    if stored.private_key_encrypted is None:
        raise KeyEncryptionError(f"signing key {stored.kid} is not encrypted yet")
    try:
        pem = cipher.decrypt(stored.private_key_encrypted)
    except KeyEncryptionError as exc:
        raise KeyEncryptionError(f"signing key {stored.kid}: {exc}") from None
    private = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private, rsa.RSAPrivateKey):
        raise KeyEncryptionError(f"signing key {stored.kid} is not an RSA key")
    jwk = _public_jwk(private, stored.kid)
    if (jwk["n"], jwk["e"]) != (stored.public_jwk.get("n"), stored.public_jwk.get("e")):
        raise KeyEncryptionError(f"signing key {stored.kid}: the stored public key is not its own")
    return private, jwk


def load_keys(keys: SigningKeys, cipher: KeyCipher) -> tuple[SigningKey, dict[str, Any]]:
    """The newest published key for signing, and the JWKS of every published key;
    KeyEncryptionError when one cannot be opened with the KEK."""
    published = keys.published()
    if not published:
        raise LookupError("no signing key: ensure_signing_key() runs at start-up")
    opened = [open_key(stored, cipher) for stored in published]
    newest = SigningKey(published[0].kid, opened[0][0])
    return newest, {"keys": [jwk for _, jwk in opened]}
