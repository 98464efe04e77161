"""Sessions on the fakes: a login issues a verifiable access token and a refresh token kept
only as its hash; each refresh rotates the token within its family; a spent token coming back
revokes the whole family, and that revocation stays although the caller is refused; logging
out ends one session and no other."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from auth_service.domain.errors import BadCredentials, InvalidRefreshToken
from auth_service.domain.model import hash_refresh_token
from tests.auth_service.unit.harness import PASSWORD, Auth

ADDRESS = "192.0.2.10"


def log_in(auth: Auth, email: str, password: str = PASSWORD):
    return auth.service.log_in(email=email, password=password, address=ADDRESS)


def test_a_login_issues_an_access_token_for_the_account_and_an_opaque_refresh_token(
    auth: Auth,
) -> None:
    user_id = auth.register("ann@example.com")
    pair = log_in(auth, "ANN@example.com")
    claims = auth.claims(pair.access_token)
    assert (claims["sub"], claims["email"], claims["roles"]) == (
        user_id,
        "ann@example.com",
        ["customer"],
    )
    assert pair.expires_in == 900 and claims["exp"] == claims["iat"] + 900  # type: ignore[operator]
    assert list(auth.store.refresh_tokens) == [hash_refresh_token(pair.refresh_token)]
    assert pair.refresh_token not in str(auth.store.refresh_tokens)


def test_a_wrong_password_or_an_unknown_email_is_the_same_refusal(auth: Auth) -> None:
    auth.register("ann@example.com")
    with pytest.raises(BadCredentials) as wrong:
        log_in(auth, "ann@example.com", "wrong-pass-1")
    with pytest.raises(BadCredentials) as unknown:
        log_in(auth, "nobody@example.com")
    assert str(wrong.value) == str(unknown.value) == "invalid email or password"
    assert auth.store.refresh_tokens == {}


def test_refresh_rotates_within_the_family(auth: Auth) -> None:
    auth.register("ann@example.com")
    first = log_in(auth, "ann@example.com")
    second = auth.service.refresh(first.refresh_token)
    third = auth.service.refresh(second.refresh_token)
    assert len({first.refresh_token, second.refresh_token, third.refresh_token}) == 3
    tokens = auth.store.refresh_tokens
    assert len({token.family_id for token in tokens.values()}) == 1
    assert tokens[hash_refresh_token(first.refresh_token)].rotated_at is not None
    assert tokens[hash_refresh_token(third.refresh_token)].rotated_at is None
    assert auth.claims(third.access_token)["email"] == "ann@example.com"


def test_a_reused_token_revokes_its_whole_family_and_the_revocation_stays(auth: Auth) -> None:
    auth.register("ann@example.com")
    stolen = log_in(auth, "ann@example.com")
    other_session = log_in(auth, "ann@example.com")
    newest = auth.service.refresh(stolen.refresh_token)
    with pytest.raises(InvalidRefreshToken, match="already used; all sessions revoked"):
        auth.service.refresh(stolen.refresh_token)
    with pytest.raises(InvalidRefreshToken):
        auth.service.refresh(newest.refresh_token)  # the newest of the family is dead too
    family = auth.store.refresh_tokens[hash_refresh_token(stolen.refresh_token)].family_id
    revoked = [t for t in auth.store.refresh_tokens.values() if t.revoked_at is not None]
    assert {t.family_id for t in revoked} == {family} and len(revoked) == 2
    assert auth.service.refresh(other_session.refresh_token).access_token  # another family


def test_unknown_and_expired_tokens_are_refused_and_change_nothing(auth: Auth) -> None:
    auth.register("ann@example.com")
    pair = log_in(auth, "ann@example.com")
    with pytest.raises(InvalidRefreshToken, match="unknown refresh token"):
        auth.service.refresh("never-issued-token-value")
    token_hash = hash_refresh_token(pair.refresh_token)
    expired = dataclasses.replace(
        auth.store.refresh_tokens[token_hash], expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    auth.store.refresh_tokens[token_hash] = expired
    with pytest.raises(InvalidRefreshToken, match="expired"):
        auth.service.refresh(pair.refresh_token)
    assert auth.store.refresh_tokens == {token_hash: expired}


def test_logging_out_ends_that_session_only(auth: Auth) -> None:
    auth.register("ann@example.com")
    leaving, staying = log_in(auth, "ann@example.com"), log_in(auth, "ann@example.com")
    refreshed = auth.service.refresh(leaving.refresh_token)
    auth.service.log_out(leaving.refresh_token)
    with pytest.raises(InvalidRefreshToken):
        auth.service.refresh(refreshed.refresh_token)
    auth.service.log_out("never-issued-token-value")  # ignored
    assert auth.service.refresh(staying.refresh_token).refresh_token


def test_a_failure_to_sign_keeps_nothing_of_the_session(auth: Auth) -> None:
    auth.register("ann@example.com")
    pair = log_in(auth, "ann@example.com")
    before = dict(auth.store.refresh_tokens)

    def broken(**_: object) -> str:
        raise RuntimeError("no signing key")

    auth.service.issuer.access_token = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        auth.service.refresh(pair.refresh_token)
    assert auth.store.refresh_tokens == before, "the rotation was rolled back"
