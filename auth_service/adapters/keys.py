"""RS256 signing keys: generated on first start, kept in the service's database (never in the
repository), published as a JWKS. Several keys may be published at once, so a new key can take
over signing while tokens signed by the old one stay valid until they expire."""

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

from auth_service.adapters.tables import signing_keys

_KEYGEN_LOCK = 0x5E_1A_7C_0D  # advisory lock: two instances starting at once make one key


@dataclass(frozen=True)
class SigningKey:
    """A private key with its key id."""

    kid: str
    private_key: Any


def generate_key() -> tuple[str, str, dict[str, Any]]:
    """A fresh RSA-2048 key: (kid, private PEM, public JWK)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = uuid.uuid4().hex
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
    return kid, pem, jwk


def ensure_signing_key(session: Session) -> None:
    """Create the first key if there is none (run in a transaction)."""
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _KEYGEN_LOCK})
    if session.execute(select(signing_keys.c.kid).limit(1)).first() is None:
        add_key(session)


def add_key(session: Session) -> str:
    """Add a new active key; it signs from now on. Returns its kid."""
    kid, pem, jwk = generate_key()
    session.execute(insert(signing_keys).values(kid=kid, private_pem=pem, public_jwk=jwk))
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


def load_keys(session: Session) -> tuple[SigningKey, dict[str, Any]]:
    """The newest active key for signing, and the JWKS of every unretired key."""
    rows = session.execute(
        select(signing_keys.c.kid, signing_keys.c.private_pem, signing_keys.c.public_jwk)
        .where(signing_keys.c.retired_at.is_(None))
        .order_by(signing_keys.c.created_at.desc())
    ).all()
    if not rows:
        raise LookupError("no signing key: ensure_signing_key() runs at start-up")
    newest = rows[0]
    private = serialization.load_pem_private_key(newest.private_pem.encode(), password=None)
    return SigningKey(newest.kid, private), {"keys": [row.public_jwk for row in rows]}
