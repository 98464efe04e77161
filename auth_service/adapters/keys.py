"""RS256 signing keys: generated on first start, kept in the service's database (never in the
repository) encrypted under the key-encryption key, published as a JWKS. Several keys may be
published at once, so a new key can take over signing while tokens signed by the old one stay
valid until they expire.

The JWKS is derived from the private keys this service can decrypt, and each must match the
public key stored beside it: write access to the table alone cannot publish a key, since a key
only counts once it decrypts under the KEK."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import insert, select, text, update
from sqlalchemy.orm import Session

from auth_service.adapters.key_encryption import KeyEncryptionError, KeyEncryptionKeys
from auth_service.adapters.tables import signing_keys
from servicekit.logging import get_logger

log = get_logger(__name__)

# Advisory lock: two instances starting at once make one key, and key creation, encryption of
# old plaintext keys and KEK rotation never interleave.
_KEYS_LOCK = 0x5E_1A_7C_0D


@dataclass(frozen=True)
class SigningKey:
    """A private key with its key id."""

    kid: str
    private_key: Any


def _public_jwk(private: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
    return jwk


def generate_key(kek: KeyEncryptionKeys) -> tuple[str, str, dict[str, Any]]:
    """A fresh RSA-2048 key: (kid, private PEM encrypted under the KEK, public JWK)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = uuid.uuid4().hex
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return kid, kek.encrypt(pem), _public_jwk(private, kid)


def _lock(session: Session) -> None:
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _KEYS_LOCK})


def ensure_signing_key(session: Session, kek: KeyEncryptionKeys) -> None:
    """At start (in a transaction): encrypt keys stored in plaintext by older versions, create
    the first key if there is none, and check that the KEK opens every key, so a wrong KEK
    stops the start instead of failing requests."""
    _lock(session)
    encrypted = encrypt_plaintext_keys(session, kek)
    if encrypted:
        log.info("signing_keys_encrypted", keys=encrypted)
    if session.execute(select(signing_keys.c.kid).limit(1)).first() is None:
        add_key(session, kek)
    for row in session.execute(
        select(signing_keys.c.kid, signing_keys.c.private_key_encrypted, signing_keys.c.public_jwk)
    ).all():
        _open(row, kek)


def encrypt_plaintext_keys(session: Session, kek: KeyEncryptionKeys) -> int:
    """Encrypt every key still stored as a plaintext PEM and clear the plaintext; returns how
    many. (PostgreSQL keeps the old row versions until VACUUM reclaims them.)"""
    rows = session.execute(
        select(signing_keys.c.kid, signing_keys.c.private_pem)
        .where(signing_keys.c.private_key_encrypted.is_(None))
        .with_for_update()
    ).all()
    for row in rows:
        session.execute(
            update(signing_keys)
            .where(signing_keys.c.kid == row.kid)
            .values(private_key_encrypted=kek.encrypt(row.private_pem.encode()), private_pem=None)
        )
    return len(rows)


def reencrypt_all(session: Session, kek: KeyEncryptionKeys) -> int:
    """Re-encrypt every stored key under the newest KEK (after a KEK rotation); returns how
    many. Plaintext keys are encrypted on the way."""
    _lock(session)
    encrypt_plaintext_keys(session, kek)
    rows = session.execute(
        select(signing_keys.c.kid, signing_keys.c.private_key_encrypted).with_for_update()
    ).all()
    for row in rows:
        session.execute(
            update(signing_keys)
            .where(signing_keys.c.kid == row.kid)
            .values(private_key_encrypted=kek.reencrypt(row.private_key_encrypted))
        )
    return len(rows)


def add_key(session: Session, kek: KeyEncryptionKeys) -> str:
    """Add a new active key; it signs from now on. Returns its kid."""
    _lock(session)
    kid, ciphertext, jwk = generate_key(kek)
    session.execute(
        insert(signing_keys).values(kid=kid, private_key_encrypted=ciphertext, public_jwk=jwk)
    )
    return kid


def retire_all_but_newest(session: Session) -> int:
    """Stop publishing every key but the newest (once old tokens have expired)."""
    newest = session.execute(
        select(signing_keys.c.kid).order_by(signing_keys.c.created_at.desc()).limit(1)
    ).scalar_one()
    result = session.execute(
        update(signing_keys)
        .where(signing_keys.c.kid != newest, signing_keys.c.retired_at.is_(None))
        .values(active=False, retired_at=text("now()"))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _open(row: Any, kek: KeyEncryptionKeys) -> tuple[rsa.RSAPrivateKey, dict[str, Any]]:
    """A stored key's private key and its JWK, checked against the public key stored with it."""
    if row.private_key_encrypted is None:
        raise KeyEncryptionError(f"signing key {row.kid} is not encrypted yet")
    try:
        pem = kek.decrypt(row.private_key_encrypted)
    except KeyEncryptionError as exc:
        raise KeyEncryptionError(f"signing key {row.kid}: {exc}") from None
    private = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private, rsa.RSAPrivateKey):
        raise KeyEncryptionError(f"signing key {row.kid} is not an RSA key")
    jwk = _public_jwk(private, row.kid)
    if (jwk["n"], jwk["e"]) != (row.public_jwk.get("n"), row.public_jwk.get("e")):
        raise KeyEncryptionError(f"signing key {row.kid}: the stored public key is not its own")
    return private, jwk


def load_keys(session: Session, kek: KeyEncryptionKeys) -> tuple[SigningKey, dict[str, Any]]:
    """The newest unretired key for signing, and the JWKS of every unretired key; raises
    KeyEncryptionError when one cannot be opened with the KEK."""
    rows = session.execute(
        select(signing_keys.c.kid, signing_keys.c.private_key_encrypted, signing_keys.c.public_jwk)
        .where(signing_keys.c.retired_at.is_(None))
        .order_by(signing_keys.c.created_at.desc())
    ).all()
    if not rows:
        raise LookupError("no signing key: ensure_signing_key() runs at start-up")
    opened = [_open(row, kek) for row in rows]
    newest = SigningKey(rows[0].kid, opened[0][0])
    return newest, {"keys": [jwk for _, jwk in opened]}
