"""Login throttling through the gateway (README, "Login throttling"), with clients on their own
loopback addresses (127.x.y.z: any of them reaches the gateway, which counts each as a client).

With `make up`'s settings: per account 5 free failures, then a lockout doubling from 1 s; per
address 100 failures per 15 minutes. A 401 is an attempt whose password was really checked; a
429 one that was refused before any check."""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import psycopg2
import pytest

from devstack import layout
from tests.e2e.conftest import GATEWAY, unique_email

pytestmark = pytest.mark.e2e

FREE_FAILURES = 5  # AUTH_LOGIN_MAX_FAILURES_PER_ACCOUNT
ADDRESS_LIMIT = 100  # AUTH_LOGIN_MAX_FAILURES_PER_ADDRESS
ADDRESS_WINDOW_SECONDS = 900  # AUTH_LOGIN_WINDOW_SECONDS
PASSWORD = "correct-horse-42"
AUTH_PORT = next(s.port for s in layout.SERVICES if s.package == "auth_service")


def fresh_address() -> str:
    """A loopback address no other test (nor an earlier run this window) counted under."""
    raw = uuid.uuid4().bytes
    return f"127.{raw[0] % 254 + 1}.{raw[1]}.{raw[2] % 254 + 1}"


def fresh_documentation_address() -> str:
    """An address in 198.18.0.0/15 (benchmarking, never routed) for forged headers."""
    raw = uuid.uuid4().bytes
    return f"198.{18 + raw[0] % 2}.{raw[1]}.{raw[2] % 254 + 1}"


@contextmanager
def client_at(address: str, base_url: str = GATEWAY) -> Iterator[httpx.Client]:
    """An HTTP client whose connections come from ``address``."""
    transport = httpx.HTTPTransport(local_address=address)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    with httpx.Client(
        base_url=base_url, transport=transport, timeout=60.0, limits=limits
    ) as client:
        yield client


def login(client: httpx.Client, email: str, password: str, **headers: str) -> httpx.Response:
    return client.post(
        "/api/auth/login", json={"email": email, "password": password}, headers=headers
    )


def all_at_once(count: int, attempt: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """``count`` attempts released together from as many threads."""
    barrier = threading.Barrier(count)

    def run(index: int) -> httpx.Response:
        barrier.wait()
        return attempt(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def statuses(responses: list[httpx.Response]) -> list[int]:
    return [response.status_code for response in responses]


def assert_refusals_say_when(responses: list[httpx.Response]) -> None:
    for response in responses:
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1, response.headers
            assert "too many failed login attempts" in response.json()["detail"]


def registered_from(address: str) -> str:
    """A new account that registered and logged in from ``address`` (so knows it)."""
    email = unique_email("throttle")
    with client_at(address) as client:
        created = client.post(
            "/api/auth/register", json={"email": email, "password": PASSWORD, "full_name": "T"}
        )
        assert created.status_code == 201, created.text
        assert login(client, email, PASSWORD).status_code == 200
    return email


def counted_addresses(*addresses: str) -> dict[str, float]:
    """How many failures the auth service holds against each of ``addresses`` (absent: none)."""
    with psycopg2.connect(layout.libpq_url("auth_service")) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT address, level FROM login_address_buckets WHERE address = ANY(%s)",
            (list(addresses),),
        )
        return {address: float(level) for address, level in cur.fetchall()}


def test_concurrent_wrong_passwords_reach_the_password_check_at_most_five_times() -> None:
    email = registered_from(fresh_address())
    with client_at(fresh_address()) as attacker:
        responses = all_at_once(20, lambda _: login(attacker, email, "wrong-password-1"))
    codes = statuses(responses)
    assert set(codes) <= {401, 429}, codes
    assert 1 <= codes.count(401) <= FREE_FAILURES, codes
    assert codes.count(429) >= 20 - FREE_FAILURES, codes
    assert_refusals_say_when(responses)


def test_the_owner_logs_in_from_a_known_address_while_an_attacker_is_locked_out() -> None:
    owner_address, attacker_address = fresh_address(), fresh_address()
    email = registered_from(owner_address)
    with client_at(attacker_address) as attacker:
        burst = all_at_once(20, lambda _: login(attacker, email, "wrong-password-1"))
        assert statuses(burst).count(429) >= 20 - FREE_FAILURES
        # Locked out: even the right password gets no check from the attacker's address...
        assert login(attacker, email, PASSWORD).status_code == 429
    with client_at(fresh_address()) as stranger:
        # ...nor from any address the account never logged in from (README: the price).
        assert login(stranger, email, PASSWORD).status_code == 429
    with client_at(owner_address) as owner:
        assert login(owner, email, PASSWORD).status_code == 200


def test_a_success_clears_a_known_address_slate_and_the_lockout_follows_the_fifth_failure() -> None:
    address = fresh_address()
    email = registered_from(address)
    with client_at(address) as owner:
        assert [login(owner, email, "typo-password-1").status_code for _ in range(4)] == [401] * 4
        assert login(owner, email, PASSWORD).status_code == 200
        # The four typos are forgotten: five more failures are checked, the fifth locks.
        assert [login(owner, email, "typo-password-1").status_code for _ in range(5)] == [401] * 5
        locked = login(owner, email, PASSWORD)
        assert locked.status_code == 429
        assert int(locked.headers["Retry-After"]) >= 1


def test_one_address_gets_at_most_its_limit_of_checks_across_accounts_concurrently() -> None:
    attempts = ADDRESS_LIMIT + 30
    started = time.monotonic()
    with client_at(fresh_address()) as sprayer:
        # Every attempt for another (unknown) account: only the address limit applies.
        responses = all_at_once(
            attempts, lambda _: login(sprayer, unique_email("spray"), "spray-password-1")
        )
    elapsed = time.monotonic() - started
    codes = statuses(responses)
    assert set(codes) <= {401, 429}, codes
    # The bucket forgives one failure every window / limit seconds: those that drained while
    # the burst ran may have been checked too.
    drained = math.ceil(elapsed * ADDRESS_LIMIT / ADDRESS_WINDOW_SECONDS)
    assert codes.count(401) <= ADDRESS_LIMIT + drained, (codes.count(401), elapsed)
    assert codes.count(429) >= attempts - ADDRESS_LIMIT - drained
    assert_refusals_say_when(responses)


def test_forwarded_for_from_a_direct_caller_does_not_change_the_address_counted() -> None:
    caller, claimed = fresh_address(), fresh_documentation_address()
    with client_at(caller, base_url=f"http://127.0.0.1:{AUTH_PORT}") as direct:
        response = login(direct, unique_email(), "wrong-password-1", **{"X-Forwarded-For": claimed})
        assert response.status_code == 401
        # Nor with a guessed forwarding secret.
        response = login(
            direct,
            unique_email(),
            "wrong-password-1",
            **{"X-Forwarded-For": claimed, "X-Forwarding-Secret": "guessed"},
        )
        assert response.status_code == 401
    counted = counted_addresses(caller, claimed)
    assert claimed not in counted, counted
    assert counted[caller] == pytest.approx(2, abs=0.1)


def test_through_the_gateway_the_client_is_counted_not_what_it_forwards() -> None:
    client_address, claimed = fresh_address(), fresh_documentation_address()
    with client_at(client_address) as client:
        response = login(client, unique_email(), "wrong-password-1", **{"X-Forwarded-For": claimed})
        assert response.status_code == 401
    counted = counted_addresses(client_address, claimed)
    assert claimed not in counted, counted
    assert counted[client_address] == pytest.approx(1, abs=0.1)
