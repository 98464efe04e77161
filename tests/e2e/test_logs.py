"""Logs an operator can rely on: one JSON object per line from every platform process, no
secrets, and one correlation id that follows an order through every service and Kafka."""

from __future__ import annotations

import json
import re
import uuid

import httpx
import pytest

from devstack import layout
from tests.e2e.conftest import ADMIN_PASSWORD, User, login
from tests.e2e.saga_support import create_product, wait_order
from tests.support import TopicReader, headers_of, wait_for

pytestmark = pytest.mark.e2e

PLATFORM_PROCESSES = [
    "gateway",
    "outbox_relay",
    *(service.package for service in layout.SERVICES),
]
REQUIRED = {"service", "level", "timestamp", "event"}
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}")


def log_lines(process: str) -> list[str]:
    """The lines of the process's current run: from its last process_started line on (the file
    also holds earlier runs, possibly of older code)."""
    path = layout.LOG_DIR / f"{process}.log"
    assert path.exists(), f"no log file for {process}"
    # JSON lines end at "\n" only: str.splitlines() would also split inside a string holding
    # U+2028 or U+0085, which JSON (and the fuzzer's paths) may carry unescaped.
    text = path.read_text(errors="replace")
    # The last piece is "" after a complete line, or a line the process is still writing (the
    # requests just made are logged as this reads): only lines that ended count.
    lines = [line for line in text.split("\n")[:-1] if line.strip()]
    starts = [
        i
        for i, line in enumerate(lines)
        if '"process_started"' in line and json.loads(line).get("event") == "process_started"
    ]
    assert starts, f"{process}.log has no process_started line"
    return lines[starts[-1] :]


def test_every_line_is_json_with_the_required_keys_and_no_secrets(
    api: httpx.Client, customer: User, admin: User
) -> None:
    # Put secrets in flight first, so a leak would have had the chance to happen.
    fresh = login(api, customer.email, customer.password)
    api.post("/api/auth/refresh", json={"refresh_token": fresh["refresh_token"]})
    api.post("/api/auth/login", json={"email": customer.email, "password": "wrong-Secret-99"})
    secrets = {
        customer.password,
        ADMIN_PASSWORD,
        "wrong-Secret-99",
        fresh["refresh_token"],
        customer.refresh_token,
        admin.refresh_token,
    }
    for process in PLATFORM_PROCESSES:
        lines = log_lines(process)
        assert lines, process
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
            except ValueError:
                pytest.fail(f"{process}.log line {number} is not JSON: {line[:200]}")
            assert isinstance(record, dict), (process, number)
            missing = REQUIRED - set(record)
            assert not missing, f"{process}.log line {number} lacks {missing}: {line[:200]}"
            assert not JWT.search(line), f"{process}.log line {number} holds a token"
            assert "Bearer " not in line, f"{process}.log line {number} holds a bearer header"
            leaked = [s for s in secrets if s in line]
            assert not leaked, f"{process}.log line {number} holds a secret"


def test_one_correlation_id_follows_an_order_everywhere(
    api: httpx.Client, admin: User, customer: User
) -> None:
    product = create_product(api, admin, stock=2)
    correlation_id = f"corr-{uuid.uuid4().hex}"
    response = api.post(
        "/api/orders",
        headers={**customer.auth, "X-Correlation-ID": correlation_id},
        json={"items": [{"product_id": product, "quantity": 1}]},
    )
    assert response.status_code == 202, response.text
    order_id = response.json()["order_id"]
    wait_order(api, customer, order_id, until=lambda o: o["inventory"]["status"] == "COMMITTED")
    wait_for(
        lambda: any(
            n["kind"] == "order_confirmed" and n["status"] == "SENT"
            for n in api.get("/api/notifications", headers=customer.auth).json()
        ),
        what="confirmation mailed",
    )

    def logged_by(process: str) -> bool:
        return any(
            json.loads(line).get("correlation_id") == correlation_id
            for line in log_lines(process)
            if correlation_id in line
        )

    for process in (
        "gateway",
        "order_service",
        "product_service",
        "payment_service",
        "notification_service",
    ):
        wait_for(lambda p=process: logged_by(p), timeout=15, what=f"{process} logs the order")

    seen_types: set[str] = set()
    for topic in ("order.events", "stock_reservation.events", "payment.events"):
        reader = TopicReader(topic)
        try:
            messages = reader.read_until(
                lambda ms: any(m.key() == order_id.encode() for m in ms), timeout=30
            )
        finally:
            reader.close()
        for message in (m for m in messages if m.key() == order_id.encode()):
            headers = headers_of(message)
            assert headers["correlation_id"] == correlation_id, (topic, headers)
            assert json.loads(message.value())["correlation_id"] == correlation_id
            assert headers.get("traceparent", "").startswith("00-")
            seen_types.add(headers["event_type"])
    assert {
        "order.created",
        "stock.reserved",
        "payment.authorized",
        "order.confirmed",
    } <= seen_types
