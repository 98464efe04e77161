"""Accounts, tokens and profiles through the gateway: the auth and users APIs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import httpx
import jwt
import psycopg2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from auth_service.adapters.key_encryption import KeyEncryptionKeys
from devstack import layout
from tests.e2e.conftest import User, login, register, unique_email
from tests.support import wait_for

pytestmark = pytest.mark.e2e


def account_count(email: str) -> int:
    with psycopg2.connect(layout.libpq_url("auth_service")) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM accounts WHERE email = %s", (email,))
        return int(cur.fetchone()[0])


def test_register_login_and_profile_from_the_event(api: httpx.Client) -> None:
    user = register(api)
    profile = wait_for(
        lambda: (r := api.get("/api/users/me", headers=user.auth)).status_code == 200 and r,
        timeout=30,
        what="profile from account.registered",
    )
    assert profile.json() == {
        "user_id": user.user_id,
        "email": user.email,
        "full_name": "Test User",
        "phone": None,
        "addresses": [],
        "national_id": None,
        "notification_channels": ["email"],
        "roles": ["customer"],
        "guest": False,
    }
    tokens = login(api, user.email, user.password)
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 900
    header = jwt.get_unverified_header(tokens["access_token"])
    assert header["alg"] == "RS256" and header["kid"]
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert {"iss", "aud", "sub", "roles", "exp", "iat", "jti"} <= set(claims)
    assert claims["sub"] == user.user_id and claims["roles"] == ["customer"]


def test_register_rejects_duplicates_and_bad_input_writing_nothing(api: httpx.Client) -> None:
    user = register(api)
    again = api.post(
        "/api/auth/register",
        json={"email": user.email.upper(), "password": "another-pass-9", "full_name": "Again"},
    )
    assert again.status_code == 409
    assert "already exists" in again.json()["detail"]

    email = unique_email("weak")
    weak = api.post(
        "/api/auth/register", json={"email": email, "password": "short", "full_name": "Weak"}
    )
    assert weak.status_code == 422
    (error,) = weak.json()["detail"]
    assert error["loc"] == ["body", "password"]
    assert "at least 8 characters" in error["msg"] and "letters and digits" in error["msg"]
    assert "short" not in weak.text, "the password must not be echoed back"

    cases = [
        ({"email": "not-an-email", "password": "good-pass-123", "full_name": "X"}, "email"),
        ({"email": email, "password": "good-pass-123"}, "full_name"),
        ({"email": email, "password": 12345678901, "full_name": "X"}, "password"),
        ({"email": email, "password": "good-pass-123", "full_name": "X", "admin": True}, "admin"),
    ]
    for body, field in cases:
        response = api.post("/api/auth/register", json=body)
        assert response.status_code == 422, (body, response.text)
        assert any(field in error["loc"] for error in response.json()["detail"]), response.text
    broken = api.post(
        "/api/auth/register", content=b'{"email": ', headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 422
    assert account_count(email) == 0


def test_bad_credentials_are_401_without_saying_which_part(api: httpx.Client) -> None:
    user = register(api)
    wrong_password = api.post("/api/auth/login", json={"email": user.email, "password": "nope-123"})
    unknown = api.post("/api/auth/login", json={"email": unique_email(), "password": "nope-123"})
    assert wrong_password.status_code == unknown.status_code == 401
    assert wrong_password.json() == unknown.json() == {"detail": "invalid email or password"}


def test_repeated_failed_logins_are_refused_with_429(api: httpx.Client) -> None:
    user = register(api)
    statuses = [
        api.post(
            "/api/auth/login", json={"email": user.email, "password": "wrong-pass-1"}
        ).status_code
        for _ in range(5)
    ]
    assert statuses == [401] * 5
    blocked = api.post("/api/auth/login", json={"email": user.email, "password": user.password})
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0


def test_refresh_rotates_and_reuse_kills_the_family(api: httpx.Client) -> None:
    user = register(api)
    first = api.post("/api/auth/refresh", json={"refresh_token": user.refresh_token})
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh_token"] != user.refresh_token
    assert api.get(
        "/api/users/me", headers={"Authorization": f"Bearer {rotated['access_token']}"}
    ).status_code in (200, 404)

    reuse = api.post("/api/auth/refresh", json={"refresh_token": user.refresh_token})
    assert reuse.status_code == 401
    assert "revoked" in reuse.json()["detail"]
    # The family is dead: even the newest token of it is refused now.
    assert (
        api.post("/api/auth/refresh", json={"refresh_token": rotated["refresh_token"]}).status_code
        == 401
    )


def test_logout_revokes_the_refresh_token(api: httpx.Client) -> None:
    user = register(api)
    assert (
        api.post("/api/auth/logout", json={"refresh_token": user.refresh_token}).status_code == 204
    )
    assert (
        api.post("/api/auth/refresh", json={"refresh_token": user.refresh_token}).status_code == 401
    )
    # Other sessions of the same account are untouched.
    other = login(api, user.email, user.password)
    assert (
        api.post("/api/auth/refresh", json={"refresh_token": other["refresh_token"]}).status_code
        == 200
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256_with(secret: str, kid: str, claims: dict[str, object]) -> str:
    """The classic key-confusion forgery: HMAC keyed with the RSA public key (PyJWT refuses to
    make one, so it is made by hand)."""
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = _b64(json.dumps(claims).encode())
    mac = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(mac)}"


def _real_signing_key() -> tuple[str, object, str]:
    """The auth service's signing key, read from its database and decrypted with the local KEK
    `make up` gives it: what an attacker with both would hold."""
    with psycopg2.connect(layout.libpq_url("auth_service")) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT kid, private_key_encrypted FROM signing_keys WHERE retired_at IS NULL "
            "ORDER BY created_at DESC LIMIT 1"
        )
        kid, ciphertext = cur.fetchone()
    kek = KeyEncryptionKeys.from_setting(SecretStr(layout.KEY_ENCRYPTION_KEY))
    private = serialization.load_pem_private_key(kek.decrypt(ciphertext), password=None)
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return kid, private, public_pem


def _claims(user: User, **overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": "order-platform-auth",
        "aud": "order-platform",
        "sub": user.user_id,
        "roles": ["customer"],
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return claims


def test_forged_and_broken_tokens_are_refused(api: httpx.Client, customer: User) -> None:
    kid, private, public_pem = _real_signing_key()
    # Control: a token we mint with the real key and valid claims is accepted.
    valid = jwt.encode(_claims(customer), private, algorithm="RS256", headers={"kid": kid})
    assert api.get("/api/users/me", headers={"Authorization": f"Bearer {valid}"}).status_code == 200

    header_none = _b64(b'{"alg":"none","typ":"JWT","kid":"%s"}' % kid.encode())
    payload = _b64(json.dumps(_claims(customer)).encode())
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    head, body, signature = customer.access_token.split(".")
    flipped = bytearray(base64.urlsafe_b64decode(signature + "=="))
    flipped[10] ^= 0x01
    forged = {
        "no token": None,
        "alg none": f"{header_none}.{payload}.",
        "HS256 with the public key": _hs256_with(public_pem, kid, _claims(customer)),
        "expired": jwt.encode(
            _claims(customer, exp=int(time.time()) - 600, iat=int(time.time()) - 1200),
            private,
            algorithm="RS256",
            headers={"kid": kid},
        ),
        "wrong aud": jwt.encode(
            _claims(customer, aud="someone-else"), private, algorithm="RS256", headers={"kid": kid}
        ),
        "wrong iss": jwt.encode(
            _claims(customer, iss="https://evil.example"),
            private,
            algorithm="RS256",
            headers={"kid": kid},
        ),
        "unknown kid": jwt.encode(
            _claims(customer), stranger, algorithm="RS256", headers={"kid": uuid.uuid4().hex}
        ),
        "flipped signature byte": f"{head}.{body}.{_b64(bytes(flipped))}",
        "garbage": "not.a.jwt",
    }
    for name, token in forged.items():
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        response = api.get("/api/users/me", headers=headers)
        assert response.status_code == 401, f"{name}: {response.status_code} {response.text}"
        assert response.json()["detail"], name


def test_a_token_living_longer_than_the_issued_ttl_is_refused_everywhere(
    api: httpx.Client, customer: User
) -> None:
    # Signed with the real key and otherwise valid: only its lifetime (exp - iat) is wrong, as
    # a stolen key would mint it to last. The gateway and every service refuse it.
    kid, private, _ = _real_signing_key()
    now = int(time.time())

    def bearer(lifetime: int) -> dict[str, str]:
        claims = _claims(customer, iat=now, exp=now + lifetime)
        token = jwt.encode(claims, private, algorithm="RS256", headers={"kid": kid})
        return {"Authorization": f"Bearer {token}"}

    assert api.get("/api/users/me", headers=bearer(900)).status_code == 200
    too_long = bearer(24 * 3600)
    through_gateway = api.get("/api/users/me", headers=too_long)
    assert through_gateway.status_code == 401, through_gateway.text
    assert "lifetime" in through_gateway.json()["detail"]
    direct = f"http://127.0.0.1:{next(s.port for s in layout.SERVICES if s.name == 'user')}"
    assert httpx.get(f"{direct}/api/users/me", headers=too_long).status_code == 401


def test_calling_a_service_port_directly_needs_a_token_too(customer: User) -> None:
    direct = f"http://127.0.0.1:{next(s.port for s in layout.SERVICES if s.name == 'user')}"
    assert httpx.get(f"{direct}/api/users/me").status_code == 401
    spoofed = httpx.get(
        f"{direct}/api/users/me", headers={"X-User-Id": customer.user_id, "X-User-Roles": "admin"}
    )
    assert spoofed.status_code == 401
    assert httpx.get(f"{direct}/api/users/me", headers=customer.auth).status_code == 200


def test_profile_update_validates_and_applies(api: httpx.Client, customer: User) -> None:
    address = {
        "street": "Rua Exemplo",
        "number": "10A",
        "city": "São Paulo",
        "state": "SP",
        "country": "Brazil",
        "zipcode": "01000-000",
    }
    changed = api.patch(
        "/api/users/me",
        headers=customer.auth,
        json={"phone": "+5511999990000", "addresses": [address]},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["phone"] == "+5511999990000"
    assert changed.json()["addresses"] == [address]

    for body in (
        {"phone": "call me"},
        {"phone": "+55 11 99999-0000"},  # E.164 has no spaces or dashes
        {"addresses": [{"street": "x"}]},
        {"full_name": ""},
        {"email": "hijack@example.com"},
    ):
        response = api.patch("/api/users/me", headers=customer.auth, json=body)
        assert response.status_code == 422, (body, response.text)
    after = api.get("/api/users/me", headers=customer.auth).json()
    assert after == changed.json(), "a rejected update wrote nothing"


def test_user_list_is_for_admins(api: httpx.Client, customer: User, admin: User) -> None:
    assert api.get("/api/users", headers=customer.auth).status_code == 403
    page = api.get("/api/users", headers=admin.auth, params={"page": 1, "size": 5})
    assert page.status_code == 200
    body = page.json()
    assert body["page"] == 1 and body["size"] == 5 and body["total"] >= 2
    assert len(body["items"]) == 5 or len(body["items"]) == body["total"]
    assert api.get("/api/users", headers=admin.auth, params={"size": 1000}).status_code == 422


def test_jwks_is_public_and_holds_the_signing_key(api: httpx.Client, customer: User) -> None:
    jwks = api.get("/api/auth/.well-known/jwks.json")
    assert jwks.status_code == 200
    kids = {key["kid"] for key in jwks.json()["keys"]}
    assert jwt.get_unverified_header(customer.access_token)["kid"] in kids
    assert all(key["kty"] == "RSA" and "d" not in key for key in jwks.json()["keys"])
