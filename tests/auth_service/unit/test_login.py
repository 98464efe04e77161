"""Login throttling as the use case applies it, on the fakes: the attempt is counted before the
password is checked, a refusal counts nothing and says when to come back, a success takes back
its own attempt and makes the address known, and a known address keeps its own slate."""

from __future__ import annotations

import pytest

from auth_service.domain.errors import BadCredentials, TooManyAttempts
from auth_service.domain.throttle import Leak
from tests.auth_service.unit.harness import PASSWORD, Auth

EMAIL = "ann@example.com"
HOME, ATTACKER, ELSEWHERE = "192.0.2.1", "198.51.100.7", "203.0.113.5"


def attempt(auth: Auth, address: str, password: str = "wrong-pass-1", email: str = EMAIL) -> str:
    """What the client gets: 200, 401 or 429."""
    try:
        auth.service.log_in(email=email, password=password, address=address)
    except BadCredentials:
        return "401"
    except TooManyAttempts:
        return "429"
    return "200"


@pytest.fixture
def owner(auth: Auth) -> Auth:
    """Ann has an account and logged in from home once."""
    auth.register(EMAIL)
    assert attempt(auth, HOME, PASSWORD) == "200"
    return auth


def test_five_failures_are_checked_then_the_account_is_locked_for_the_base(owner: Auth) -> None:
    assert [attempt(owner, ATTACKER) for _ in range(5)] == ["401"] * 5
    with pytest.raises(TooManyAttempts) as refused:
        owner.service.log_in(email=EMAIL, password=PASSWORD, address=ATTACKER)
    assert refused.value.retry_after == 1
    owner.clock.advance(1)
    assert attempt(owner, ATTACKER) == "401"  # the sixth failure locks for twice as long
    owner.clock.advance(1)
    assert attempt(owner, ATTACKER, PASSWORD) == "429"


def test_a_refused_attempt_counts_nothing(owner: Auth) -> None:
    for _ in range(5):
        attempt(owner, ATTACKER)
    lockout = owner.store.account_lockouts[EMAIL]
    bucket = owner.store.address_buckets[ATTACKER]
    assert [attempt(owner, ATTACKER) for _ in range(10)] == ["429"] * 10
    assert owner.store.account_lockouts[EMAIL] == lockout
    assert owner.store.address_buckets[ATTACKER] == bucket


def test_the_owner_logs_in_from_a_known_address_while_others_are_locked_out(owner: Auth) -> None:
    for _ in range(20):
        attempt(owner, ATTACKER)
    assert attempt(owner, ELSEWHERE, PASSWORD) == "429"  # an address the account never used
    assert attempt(owner, HOME, PASSWORD) == "200"


def test_a_success_clears_a_known_address_and_the_fifth_failure_after_locks(owner: Auth) -> None:
    assert [attempt(owner, HOME) for _ in range(4)] == ["401"] * 4
    assert attempt(owner, HOME, PASSWORD) == "200"
    assert [attempt(owner, HOME) for _ in range(5)] == ["401"] * 5
    assert attempt(owner, HOME, PASSWORD) == "429"


def test_a_success_takes_back_only_its_own_attempt_from_the_shared_lockout(auth: Auth) -> None:
    auth.register(EMAIL)
    assert [attempt(auth, ATTACKER) for _ in range(3)] == ["401"] * 3
    assert attempt(auth, ELSEWHERE, PASSWORD) == "200"  # ELSEWHERE was unknown until now
    assert auth.store.account_lockouts[EMAIL].failures == 3
    assert auth.store.address_buckets[ELSEWHERE] == Leak(0.0, auth.clock.now)


def test_unknown_emails_are_counted_against_the_address(auth: Auth) -> None:
    codes = [attempt(auth, ATTACKER, email=f"user{n}@example.com") for n in range(101)]
    assert codes == ["401"] * 100 + ["429"]
    auth.clock.advance(9)  # one failure drains every 900 / 100 s
    assert attempt(auth, ATTACKER, email="another@example.com") == "401"


def test_idle_buckets_are_purged_and_live_ones_kept(owner: Auth) -> None:
    for _ in range(6):
        attempt(owner, ATTACKER)
    assert owner.service.purge_login_throttle() == 0
    owner.clock.advance(901)
    assert owner.service.purge_login_throttle() == 3  # the lockout and both address buckets
    assert owner.store.account_lockouts == {} and owner.store.address_buckets == {}
    assert list(owner.store.known_addresses) == [(EMAIL, HOME)]
