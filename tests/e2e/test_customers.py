"""Identified customers and guests through the gateway: a CPF, an E.164 phone and notification
channels on PATCH /api/users/me; staff and admins find a customer by CPF; one customer per CPF,
also when two claim it at once; and the CPF never on Kafka or in a log line."""

from __future__ import annotations

import json
import re
import threading
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg2
import pytest

from devstack import layout
from tests.e2e.conftest import GATEWAY, User, create_guest, register, unique_email
from tests.support import TopicReader, headers_of, wait_for
from user_service.domain.contact import cpf_check_digits

pytestmark = pytest.mark.e2e

MASKED = re.compile(r"\*\*\*\.\d{3}\.\d{3}-\*\*")


def new_cpf() -> str:
    """A valid CPF no other test uses: random first nine digits and their check digits."""
    first_nine = f"{uuid.uuid4().int % 10**9:09d}"
    digits = first_nine + cpf_check_digits(first_nine)
    return digits if len(set(digits)) > 1 else new_cpf()


def written(cpf: str) -> str:
    """The CPF as people write it: 123.456.789-09."""
    return f"{cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}"


def profile_of(api: httpx.Client, user: User) -> dict[str, Any]:
    response = api.get("/api/users/me", headers=user.auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def updated_at(user_id: str) -> object:
    """When the profile row was last written (every change, and its event, moves it)."""
    with psycopg2.connect(layout.libpq_url("user_service")) as conn, conn.cursor() as cur:
        cur.execute("SELECT updated_at FROM profiles WHERE user_id = %s", (user_id,))
        return cur.fetchone()[0]


def lookup(api: httpx.Client, user: User, cpf: str) -> httpx.Response:
    return api.get("/api/users", headers=user.auth, params={"national_id": cpf})


def with_profile(api: httpx.Client) -> User:
    user = register(api)
    wait_for(
        lambda: api.get("/api/users/me", headers=user.auth).status_code == 200,
        timeout=30,
        what="profile created from account.registered",
    )
    return user


@pytest.fixture(scope="module")
def staff(api: httpx.Client, admin: User) -> User:
    """A customer an admin made staff, with a token that shows it (roles show from a refresh)."""
    user = with_profile(api)
    wait_for(
        lambda: (
            api.put(
                f"/api/auth/users/{user.user_id}/roles",
                headers=admin.auth,
                json={"roles": ["customer", "staff"]},
            ).status_code
            == 200
        ),
        timeout=30,
        what="PUT /api/auth/users/{user_id}/roles answering 200 (the auth service's roles)",
    )
    refreshed = api.post("/api/auth/refresh", json={"refresh_token": user.refresh_token})
    assert refreshed.status_code == 200, refreshed.text
    tokens = refreshed.json()
    return User(
        user.user_id, user.email, user.password, tokens["access_token"], tokens["refresh_token"]
    )


def test_a_customer_sets_cpf_phone_and_channels(api: httpx.Client, customer: User) -> None:
    cpf = new_cpf()
    changed = api.patch(
        "/api/users/me",
        headers=customer.auth,
        json={
            "national_id": written(cpf),
            "phone": "+5511987654321",
            "notification_channels": ["sms", "email"],
        },
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["national_id"], body["phone"], body["notification_channels"]) == (
        cpf,
        "+5511987654321",
        ["email", "sms"],
    )
    assert (body["roles"], body["guest"]) == (["customer"], False)
    assert profile_of(api, customer) == body
    # The same CPF again, without punctuation: its holder names it, nothing to claim.
    again = api.patch("/api/users/me", headers=customer.auth, json={"national_id": cpf})
    assert again.status_code == 200 and again.json()["national_id"] == cpf
    # Email only, and the CPF forgotten.
    quiet = api.patch(
        "/api/users/me",
        headers=customer.auth,
        json={"notification_channels": ["email"], "national_id": None},
    )
    assert quiet.status_code == 200, quiet.text
    assert (quiet.json()["notification_channels"], quiet.json()["national_id"]) == (["email"], None)


def test_bad_input_is_422_naming_the_field_and_writes_nothing(
    api: httpx.Client, customer: User
) -> None:
    before, written_at = profile_of(api, customer), updated_at(customer.user_id)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"national_id": "123.456.789-00"}, "national_id"),  # check digits
        ({"national_id": "111.111.111-11"}, "national_id"),  # one digit repeated
        ({"national_id": "1234567890"}, "national_id"),  # 10 digits
        ({"national_id": "123.456.789-0A"}, "national_id"),
        ({"national_id": 12345678909}, "national_id"),  # a number, not text
        ({"phone": "+55 11 98765-4321"}, "phone"),
        ({"phone": "11987654321"}, "phone"),
        ({"notification_channels": ["email", "push"]}, "notification_channels"),
        ({"notification_channels": None}, "notification_channels"),
        ({"notification_channels": ["sms"]}, "notification_channels"),  # no phone
        # One bad field refuses the whole change, valid fields included.
        ({"national_id": new_cpf(), "phone": "call me"}, "phone"),
        ({"national_id": new_cpf(), "full_name": "New", "notification_channels": ["sms"]}, "sms"),
    ]
    for body, field in cases:
        response = api.patch("/api/users/me", headers=customer.auth, json=body)
        assert response.status_code == 422, (body, response.text)
        detail = response.json()["detail"]
        if isinstance(detail, list):
            assert any(field in error["loc"] for error in detail), (body, detail)
        else:
            assert field in detail, (body, detail)
        if isinstance(body.get("national_id"), str):
            assert body["national_id"] not in response.text, "a refusal never repeats the CPF"
    assert profile_of(api, customer) == before
    assert updated_at(customer.user_id) == written_at, "a refused change wrote nothing"


def test_a_cpf_another_customer_holds_is_409_and_nothing_changes(
    api: httpx.Client, customer: User
) -> None:
    cpf, other = new_cpf(), with_profile(api)
    assert (
        api.patch("/api/users/me", headers=customer.auth, json={"national_id": cpf}).status_code
        == 200
    )
    before, written_at = profile_of(api, other), updated_at(other.user_id)
    taken = api.patch(
        "/api/users/me",
        headers=other.auth,
        json={"national_id": written(cpf), "full_name": "Someone Else"},
    )
    assert taken.status_code == 409, taken.text
    assert "national_id" in taken.json()["detail"] and cpf not in taken.text
    assert profile_of(api, other) == before
    assert updated_at(other.user_id) == written_at


def claim_at_once(users: list[User], cpf: str) -> dict[str, int]:
    """Every user claims the CPF at the same moment, each on its own connection: the status
    each got."""
    start = threading.Barrier(len(users))
    statuses: dict[str, int] = {}

    def claim(user: User) -> None:
        with httpx.Client(base_url=GATEWAY, timeout=15.0) as client:
            start.wait(timeout=10)
            response = client.patch("/api/users/me", headers=user.auth, json={"national_id": cpf})
            statuses[user.user_id] = response.status_code

    threads = [threading.Thread(target=claim, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return statuses


def test_two_customers_claiming_one_cpf_at_once_one_wins_one_gets_409(
    api: httpx.Client, admin: User
) -> None:
    for _ in range(3):
        cpf, first, second = new_cpf(), with_profile(api), with_profile(api)
        statuses = claim_at_once([first, second], cpf)
        assert sorted(statuses.values()) == [200, 409], statuses
        (winner,) = [user_id for user_id, status in statuses.items() if status == 200]
        found = lookup(api, admin, cpf).json()
        assert [item["user_id"] for item in found["items"]] == [winner]
        loser = second if winner == first.user_id else first
        assert profile_of(api, loser)["national_id"] is None


def test_staff_and_admins_find_a_customer_by_cpf(
    api: httpx.Client, customer: User, admin: User, staff: User
) -> None:
    cpf = new_cpf()
    mine = api.patch("/api/users/me", headers=customer.auth, json={"national_id": cpf}).json()
    for finder in (admin, staff):
        found = lookup(api, finder, written(cpf))
        assert found.status_code == 200, found.text
        assert found.json() == {"items": [mine], "page": 1, "size": 20, "total": 1}
        assert lookup(api, finder, cpf).json()["items"] == [mine]
        unknown = lookup(api, finder, new_cpf())
        assert unknown.status_code == 200
        assert unknown.json() == {"items": [], "page": 1, "size": 20, "total": 0}
        invalid = lookup(api, finder, "123.456.789-00")
        assert invalid.status_code == 422
        assert invalid.json()["detail"][0]["loc"] == ["query", "national_id"]
    # The whole list stays the admins', and shows every CPF masked.
    assert api.get("/api/users", headers=staff.auth).status_code == 403
    page = api.get("/api/users", headers=admin.auth, params={"size": 100}).json()
    assert all(
        item["national_id"] is None or MASKED.fullmatch(item["national_id"])
        for item in page["items"]
    )


def test_customers_may_not_look_anyone_up(api: httpx.Client, customer: User) -> None:
    cpf = new_cpf()
    api.patch("/api/users/me", headers=customer.auth, json={"national_id": cpf})
    for asked in (cpf, "123.456.789-00"):
        refused = lookup(api, customer, asked)
        assert refused.status_code == 403, refused.text
        assert cpf not in refused.text
    assert api.get("/api/users", params={"national_id": cpf}).status_code == 401


def test_profile_updated_on_kafka_never_carries_the_cpf(api: httpx.Client, customer: User) -> None:
    cpf = new_cpf()
    changed = api.patch(
        "/api/users/me",
        headers=customer.auth,
        json={
            "national_id": cpf,
            "phone": "+5511912345678",
            "notification_channels": ["email", "sms"],
        },
    )
    assert changed.status_code == 200, changed.text
    key = customer.user_id.encode()
    reader = TopicReader("user.events")
    try:
        messages = reader.read_until(
            lambda ms: any(
                m.key() == key and json.loads(m.value())["payload"].get("phone") for m in ms
            )
        )
    finally:
        reader.close()
    mine = [m for m in messages if m.key() == key]
    assert {headers_of(m)["event_type"] for m in mine} == {"user.profile_updated"}
    for message in mine:
        assert cpf.encode() not in message.value() and b"national_id" not in message.value()
    payload = json.loads(mine[-1].value())["payload"]
    assert payload == {
        "user_id": customer.user_id,
        "full_name": "Test User",
        "email": customer.email,
        "phone": "+5511912345678",
        "notification_channels": ["email", "sms"],
        "guest": False,
    }


def test_no_log_line_carries_the_cpf(api: httpx.Client, customer: User, admin: User) -> None:
    cpf, other = new_cpf(), with_profile(api)
    logs = list(layout.LOG_DIR.glob("*.log"))
    sizes = {log: log.stat().st_size for log in logs}
    api.patch("/api/users/me", headers=customer.auth, json={"national_id": written(cpf)})
    api.patch("/api/users/me", headers=other.auth, json={"national_id": cpf})  # 409
    api.patch("/api/users/me", headers=other.auth, json={"national_id": cpf[:-1] + "x"})  # 422
    assert lookup(api, customer, cpf).status_code == 403
    last = uuid.uuid4().hex
    found = api.get(
        "/api/users",
        headers={**admin.auth, "X-Correlation-ID": last},
        params={"national_id": written(cpf)},
    )
    assert found.status_code == 200

    def appended(log: Path) -> str:
        with log.open("rb") as lines:
            lines.seek(sizes[log])
            return lines.read().decode(errors="replace")

    gateway, users = layout.LOG_DIR / "gateway.log", layout.LOG_DIR / "user_service.log"
    # Once the last request's access lines are written, so is everything before them.
    wait_for(
        lambda: last in appended(gateway) and last in appended(users),
        what="the last lookup's access lines",
    )
    (access,) = [
        json.loads(line)
        for line in appended(users).splitlines()
        if last in line and '"http_request"' in line
    ]
    assert (access["path"], access["status"]) == ("/api/users", 200)
    for log in logs:
        text = appended(log)
        for form in (cpf, written(cpf), cpf[:-1] + "x"):
            assert form not in text, f"{log.name} logged a CPF"


def test_a_guest_gets_a_profile_identifies_by_cpf_and_keeps_it_when_registering(
    api: httpx.Client, admin: User
) -> None:
    guest = create_guest()
    profile = wait_for(
        lambda: (r := api.get("/api/users/me", headers=guest.auth)).status_code == 200 and r,
        timeout=30,
        what="profile from account.guest_registered",
    ).json()
    assert profile == {
        "user_id": guest.user_id,
        "email": None,
        "full_name": "Guest",
        "phone": None,
        "addresses": [],
        "national_id": None,
        "notification_channels": ["email"],
        "roles": ["guest"],
        "guest": True,
    }
    # At the kiosk the guest identifies by CPF; its channels are kept for when it registers.
    cpf = new_cpf()
    identified = api.patch(
        "/api/users/me",
        headers=guest.auth,
        json={"national_id": written(cpf), "notification_channels": ["email"]},
    )
    assert identified.status_code == 200, identified.text
    assert [item["user_id"] for item in lookup(api, admin, cpf).json()["items"]] == [guest.user_id]

    email = unique_email("guest")
    registered = api.post(
        "/api/auth/register",
        headers=guest.auth,
        json={"email": email, "password": "correct-horse-42", "full_name": "Former Guest"},
    )
    assert registered.status_code == 201, registered.text
    assert registered.json()["user_id"] == guest.user_id
    wait_for(
        lambda: profile_of(api, guest)["guest"] is False,
        timeout=30,
        what="profile from account.guest_converted",
    )
    converted = profile_of(api, guest)
    assert (converted["email"], converted["full_name"], converted["national_id"]) == (
        email,
        "Former Guest",
        cpf,
    )
    assert converted["roles"] == ["customer"]
