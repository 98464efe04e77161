"""The auth service's signing keys at rest, with real auth_service processes on throw-away
databases: no private key in clear in the database, keys stored in clear by older versions
encrypted on start, `rotate-kek` moves every key to the newest key-encryption key while tokens
already issued keep verifying, and a missing or wrong KEK stops the start with one clear error
instead of failing every request."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import jwt
import psycopg2
import pytest
from alembic import command
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from psycopg2.extras import Json

from servicekit.migrations import alembic_config
from servicekit.tokens import TokenVerifier
from tests.support import ManagedProcess, free_port, scratch_database, sqlalchemy_url, wait_for

pytestmark = pytest.mark.integration

KEK_1, KEK_2, KEK_WRONG = (Fernet.generate_key().decode() for _ in range(3))
PASSWORD = "correct-horse-42"


def auth_env(url: str, port: int, kek: str) -> dict[str, str]:
    return {
        "AUTH_PORT": str(port),
        "AUTH_DATABASE_URL": sqlalchemy_url(url),
        "AUTH_KEY_ENCRYPTION_KEY": kek,
        "EUREKA_ENABLED": "false",
        # Cheap hashing: these tests are about keys, not passwords.
        "AUTH_ARGON2_MEMORY_KIB": "64",
        "AUTH_ARGON2_TIME_COST": "1",
    }


@contextmanager
def auth_service(url: str, kek: str, log: Path) -> Iterator[str]:
    """A running auth service on ``url``; yields its base URL."""
    port = free_port()
    process = ManagedProcess(
        [sys.executable, "-m", "auth_service"], auth_env(url, port, kek), log, http_port=port
    ).start()
    try:
        wait_for(lambda: process.health() is not None, timeout=60, what="auth_service health")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()


def failed_start(url: str, kek: str, log: Path) -> tuple[int, str]:
    """Start an auth service that must not come up: its exit code and output."""
    port = free_port()
    process = ManagedProcess(
        [sys.executable, "-m", "auth_service"], auth_env(url, port, kek), log, http_port=port
    ).start()
    assert process.process is not None
    popen = process.process
    try:
        wait_for(lambda: popen.poll() is not None, timeout=60, what="auth_service to give up")
    finally:
        if popen.poll() is None:
            popen.kill()
    return int(popen.returncode), process.output()


def key_command(url: str, kek: str, command_name: str) -> subprocess.CompletedProcess[str]:
    env = auth_env(url, free_port(), kek)
    return subprocess.run(
        [sys.executable, "-m", "auth_service", command_name],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def stored_keys(url: str) -> list[tuple[str, str | None, str | None, str]]:
    """(kid, private_pem, private_key_encrypted, the whole row as text) per stored key."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT kid, private_pem, private_key_encrypted, signing_keys::text FROM signing_keys"
            " ORDER BY created_at"
        )
        return list(cur.fetchall())


def token_for(base_url: str) -> str:
    email = f"keys-{uuid.uuid4().hex[:10]}@example.com"
    created = httpx.post(
        f"{base_url}/api/auth/register",
        json={"email": email, "password": PASSWORD, "full_name": "Keys"},
    )
    assert created.status_code == 201, created.text
    login = httpx.post(f"{base_url}/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    token: str = login.json()["access_token"]
    return token


def verifies(token: str, base_url: str) -> bool:
    """True when the token verifies against the JWKS the service now publishes."""

    async def fetch() -> dict[str, object]:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{base_url}/api/auth/.well-known/jwks.json")
            response.raise_for_status()
            jwks: dict[str, object] = response.json()
            return jwks

    verifier = TokenVerifier(fetch, max_lifetime_seconds=900)
    principal = asyncio.run(verifier.verify(token))
    return bool(principal.user_id)


def test_keys_are_encrypted_at_rest_and_rotate_kek_keeps_tokens_valid(
    engines: None, artifacts: Path
) -> None:
    with scratch_database("auth_keys", migrations="auth_service") as url:
        with auth_service(url, KEK_1, artifacts / "auth-1.log") as base_url:
            token = token_for(base_url)
        [(kid, pem, ciphertext, row)] = stored_keys(url)
        assert pem is None and ciphertext is not None
        assert "PRIVATE KEY" not in row, "a private key is stored in clear"
        assert b"BEGIN PRIVATE KEY" in Fernet(KEK_1).decrypt(ciphertext.encode())

        # Rotation: the new KEK first, the old one still listed so the keys can be opened.
        rotated = key_command(url, f"{KEK_2},{KEK_1}", "rotate-kek")
        assert rotated.returncode == 0, rotated.stderr
        assert "re-encrypted 1 signing keys" in rotated.stdout
        [(same_kid, _, new_ciphertext, _)] = stored_keys(url)
        assert same_kid == kid and new_ciphertext != ciphertext
        assert b"BEGIN PRIVATE KEY" in Fernet(KEK_2).decrypt(new_ciphertext.encode())
        with pytest.raises(InvalidToken):
            Fernet(KEK_1).decrypt(new_ciphertext.encode())

        # The old KEK can now go: the service starts with the new one alone, and the token
        # issued before the rotation still verifies (the signing key itself did not change).
        with auth_service(url, KEK_2, artifacts / "auth-2.log") as base_url:
            assert verifies(token, base_url)
            assert verifies(token_for(base_url), base_url)

        added = key_command(url, KEK_2, "rotate-key")
        assert added.returncode == 0, added.stderr
        assert [pem for _, pem, _, _ in stored_keys(url)] == [None, None]


def test_a_plaintext_key_from_an_older_version_is_encrypted_on_start(
    engines: None, artifacts: Path
) -> None:
    with scratch_database("auth_keys", migrations="auth_service") as url:
        # The database as the version before encryption left it, with a key in clear.
        command.downgrade(alembic_config("auth_service", sqlalchemy_url(url)), "auth_0004")
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        kid = uuid.uuid4().hex
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
        jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO signing_keys (kid, private_pem, public_jwk) VALUES (%s, %s, %s)",
                (kid, pem, Json(jwk)),
            )
        command.upgrade(alembic_config("auth_service", sqlalchemy_url(url)), "head")

        with auth_service(url, KEK_1, artifacts / "auth.log") as base_url:
            jwks = httpx.get(f"{base_url}/api/auth/.well-known/jwks.json").json()
            assert [key["kid"] for key in jwks["keys"]] == [kid]
        [(same_kid, cleared, ciphertext, row)] = stored_keys(url)
        assert same_kid == kid and cleared is None and "PRIVATE KEY" not in row
        assert Fernet(KEK_1).decrypt(ciphertext.encode()).decode() == pem


def test_a_missing_or_wrong_kek_stops_the_start_with_a_clear_error(
    engines: None, artifacts: Path
) -> None:
    with scratch_database("auth_keys", migrations="auth_service") as url:
        code, output = failed_start(url, "", artifacts / "no-kek.log")
        assert code != 0
        assert "AUTH_KEY_ENCRYPTION_KEY is not set" in output

        with auth_service(url, KEK_1, artifacts / "first.log"):
            pass  # creates the first key, under KEK_1
        code, output = failed_start(url, KEK_WRONG, artifacts / "wrong-kek.log")
        assert code != 0
        assert '"event":"signing_keys_unusable"' in output
        assert "cannot be decrypted" in output
        assert KEK_WRONG not in output and KEK_1 not in output, "a key-encryption key was logged"
        assert '"event":"service_started"' not in output

        code, output = failed_start(url, "definitely-not-a-fernet-key", artifacts / "bad.log")
        assert code != 0
        assert "is not a Fernet key" in output
        assert "definitely-not-a-fernet-key" not in output
