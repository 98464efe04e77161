"""The SMS sink as a real process: one message per Idempotency-Key, listing, bad requests
refused with nothing stored, and messages that survive a restart, a kill -9, and a line cut
short by a crash."""

from __future__ import annotations

import signal
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support import ManagedProcess, free_port, wait_for

pytestmark = pytest.mark.integration

API_KEY = "test-sms-key"


@dataclass
class Sink:
    """An SMS sink process over one message file; restartable."""

    store: Path
    log_path: Path
    process: ManagedProcess | None = None

    def start(self) -> Sink:
        port = free_port()
        self.process = ManagedProcess(
            [sys.executable, "-m", "sms_sink"],
            {
                "SMS_SINK_PORT": str(port),
                "SMS_SINK_STORE_PATH": str(self.store),
                "SMS_API_KEY": API_KEY,
            },
            self.log_path,
            http_port=port,
        ).start()
        process = self.process
        wait_for(
            lambda: (
                (process.health() or {}).get("status") == "ok"
                or (process.process is not None and process.process.poll() is not None)
            ),
            timeout=60,
            what="the SMS sink to answer /health",
        )
        assert process.process is not None and process.process.poll() is None, process.output()
        return self

    def stop(self) -> None:
        assert self.process is not None
        code = self.process.stop()
        assert code in (0, -signal.SIGTERM), self.process.output()[-3000:]
        self.process = None

    def client(self) -> httpx.Client:
        assert self.process is not None
        return httpx.Client(base_url=f"http://127.0.0.1:{self.process.http_port}", timeout=10)

    def send(self, key: str, to: str = "+5511987654321", body: str = "Order confirmed") -> Any:
        with self.client() as client:
            return client.post(
                "/messages",
                json={"to": to, "body": body},
                headers={"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": key},
            )

    def listed(self, **params: str) -> list[dict[str, Any]]:
        with self.client() as client:
            response = client.get("/messages", params=params)
        assert response.status_code == 200, response.text
        messages: list[dict[str, Any]] = response.json()
        return messages


@contextmanager
def running_sink(folder: Path) -> Iterator[Sink]:
    running = Sink(store=folder / "sms" / "messages.jsonl", log_path=folder / "sms.log")
    running.start()
    try:
        yield running
    finally:
        if running.process is not None:
            running.stop()


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[Sink]:
    """A sink of one test, with an empty message file."""
    with running_sink(tmp_path) as running:
        yield running


@pytest.fixture(scope="module")
def shared_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sink]:
    """One sink for the bad-request cases: each compares before and after."""
    with running_sink(tmp_path_factory.mktemp("sms")) as running:
        yield running


def test_one_message_per_idempotency_key(sink: Sink) -> None:
    first = sink.send("notification-1:sms")
    again = sink.send("notification-1:sms")
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "accepted"
    assert again.status_code == 200
    assert again.json() == first.json()
    other = sink.send("notification-1:sms", body="Something else")
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()["detail"]
    messages = sink.listed()
    assert len(messages) == 1
    assert messages[0]["message_id"] == first.json()["message_id"]
    assert messages[0]["to"] == "+5511987654321"
    assert messages[0]["body"] == "Order confirmed"
    assert "received_at" in messages[0]
    assert len(sink.store.read_bytes().splitlines()) == 1


def test_listing_filters_by_recipient_in_arrival_order(sink: Sink) -> None:
    for n in range(3):
        assert sink.send(f"a-{n}", to="+5511900000001", body=f"to a {n}").status_code == 201
    assert sink.send("b-0", to="+14155550123", body="to b").status_code == 201
    assert [m["body"] for m in sink.listed(to="+5511900000001")] == ["to a 0", "to a 1", "to a 2"]
    assert [m["body"] for m in sink.listed(to="+14155550123")] == ["to b"]
    assert len(sink.listed()) == 4
    assert [m["body"] for m in sink.listed(limit="2")] == ["to a 2", "to b"]


@pytest.mark.parametrize(
    ("body", "headers", "status", "named"),
    [
        ({"to": "11987654321", "body": "x"}, {}, 422, "to"),
        ({"to": "+0123", "body": "x"}, {}, 422, "to"),
        ({"to": "+5511987654321", "body": ""}, {}, 422, "body"),
        ({"to": "+5511987654321", "body": "x" * 1601}, {}, 422, "body"),
        ({"to": "+5511987654321", "body": "x", "from": "me"}, {}, 422, "from"),
        ({"to": "+5511987654321", "body": "x"}, {"Idempotency-Key": None}, 422, "Idempotency-Key"),
        ({"to": "+5511987654321", "body": "x"}, {"Authorization": None}, 401, "API key"),
        ({"to": "+5511987654321", "body": "x"}, {"Authorization": "Bearer no"}, 401, "API key"),
    ],
)
def test_bad_requests_store_nothing(
    shared_sink: Sink, body: dict[str, Any], headers: dict[str, Any], status: int, named: str
) -> None:
    sink = shared_sink
    assert sink.send("accepted-before", body="a good one").status_code in (200, 201)
    before = (sink.listed(), sink.store.read_bytes())
    sent = {"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": "k-1", **headers}
    with sink.client() as client:
        response = client.post(
            "/messages", json=body, headers={k: v for k, v in sent.items() if v is not None}
        )
    assert response.status_code == status, response.text
    assert named in str(response.json()["detail"])
    assert (sink.listed(), sink.store.read_bytes()) == before


def test_messages_and_keys_survive_a_restart_and_a_kill(sink: Sink) -> None:
    ids = [sink.send(f"restart-{n}", body=f"message {n}").json()["message_id"] for n in range(3)]
    sink.stop()
    sink.start()
    assert [m["message_id"] for m in sink.listed()] == ids
    # The index was rebuilt: a repeat after the restart is still the same message.
    repeat = sink.send("restart-1", body="message 1")
    assert repeat.status_code == 200
    assert repeat.json()["message_id"] == ids[1]

    # Acknowledged means on disk: a kill -9 right after the answer loses nothing.
    last = sink.send("restart-3", body="message 3").json()["message_id"]
    assert sink.process is not None
    sink.process.kill9()
    sink.process = None
    sink.start()
    assert [m["message_id"] for m in sink.listed()] == [*ids, last]
    assert len(sink.store.read_bytes().splitlines()) == 4


def test_a_line_cut_short_by_a_crash_is_dropped(sink: Sink) -> None:
    kept = sink.send("whole", body="whole line").json()["message_id"]
    sink.stop()
    record = {"message_id": uuid.uuid4().hex, "idempotency_key": "cut", "to": "+5511900000009"}
    with sink.store.open("ab") as handle:
        handle.write(orjson.dumps(record)[:30])  # a crash mid-write: no newline, never answered
    sink.start()
    assert [m["message_id"] for m in sink.listed()] == [kept]
    assert sink.send("after", body="after the crash").status_code == 201
    lines = sink.store.read_bytes().splitlines()
    assert [orjson.loads(line)["body"] for line in lines] == ["whole line", "after the crash"]
    assert sink.process is not None
    assert '"event":"sms_store_partial_line_dropped"' in sink.process.output()
