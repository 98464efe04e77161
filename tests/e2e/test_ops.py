"""The operators' API through the gateway, on the running stack: an order's trace (its messages
on the saga's three topics as Kafka holds them, the inbox entries they left), who may ask, and
dead letters: listed, replayed, recorded and counted; a poison message dies again, an event
whose handler was fixed is applied once, an event already applied is skipped by the inbox.
And `make trace` / `make dlq` in the terminal."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from devstack import layout
from ops_service.adapters.partitioner import partition_for_key
from servicekit.messaging.envelope import Envelope
from servicekit.messaging.inbox import InboxConsumer, RetryPolicy, dead_letter_headers
from servicekit.messaging.kafka import admin_client, ensure_topics, producer_config
from servicekit.settings import KafkaSettings
from tests.e2e.conftest import User
from tests.e2e.saga_support import (
    create_product,
    order,
    place_order,
    port_of,
    service_metric,
    stock_row,
    wait_order,
)
from tests.support import REPO, headers_of, scratch_database, sqlalchemy_url, wait_for

pytestmark = pytest.mark.e2e

SAGA = ["order.created", "stock.reserved", "payment.authorized", "order.confirmed"]
SAGA_TOPICS = ("order.events", "stock_reservation.events", "payment.events")
ORDER_DLQ = "order.events.dlq"
OPS_PORT = port_of("ops_service")


def trace_of(api: httpx.Client, admin: User, order_id: str) -> dict[str, Any]:
    response = api.get(f"/api/ops/orders/{order_id}/trace", headers=admin.auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def event_types(trace: dict[str, Any]) -> list[str]:
    return [m["event_type"] for m in trace["messages"]]


def confirmed_order(api: httpx.Client, admin: User, customer: User) -> tuple[str, str]:
    """A new order whose saga finished (stock committed); its id and correlation id."""
    product = create_product(api, admin, stock=5)
    correlation_id = f"ops-test-{uuid.uuid4().hex}"
    placed = place_order(api, customer, [(product, 1)], **{"X-Correlation-ID": correlation_id})
    assert placed.status_code == 202, placed.text
    order_id = str(placed.json()["order_id"])
    wait_order(api, customer, order_id, until=lambda o: o["status"] == "CONFIRMED")
    # Finished: the saga's last message is in Kafka and order_service has applied it (it may
    # wait a little for company there, being a timeline entry only: deferrable).
    wait_for(
        lambda: ("order-service", "stock.committed") in applied_by(trace_of(api, admin, order_id)),
        timeout=30,
        what="the saga's last message applied",
    )
    return order_id, correlation_id


def applied_by(trace: dict[str, Any]) -> set[tuple[str, str]]:
    """(consumer, event type) of every inbox entry of the trace."""
    return {(entry["consumer"], entry["event_type"]) for entry in trace["inbox"]}


def keyed_messages(topic: str, key: str) -> list[Message]:
    """Every message with this key on the partition the key goes to, read from the start."""
    consumer = Consumer(
        {
            "bootstrap.servers": layout.KAFKA_BOOTSTRAP,
            "group.id": f"ops-test-{uuid.uuid4().hex}",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )
    partitions = len(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
    partition = partition_for_key(key.encode(), partitions)
    consumer.assign([TopicPartition(topic, partition, 0)])
    found: list[Message] = []
    try:
        while True:
            first = consumer.poll(10)
            assert first is not None, f"no end of {topic}[{partition}] within 10 s"
            for message in [first, *consumer.consume(1000, 0)]:
                if message.error() is not None:
                    assert message.error().code() == KafkaError._PARTITION_EOF
                    return found
                if message.key() == key.encode():
                    found.append(message)
    finally:
        consumer.close()


def header(message: Message, name: str) -> str | None:
    return headers_of(message).get(name)


def test_the_trace_of_a_finished_saga_lists_every_message_as_kafka_holds_it(
    api: httpx.Client, admin: User, customer: User
) -> None:
    order_id, correlation_id = confirmed_order(api, admin, customer)
    trace = trace_of(api, admin, order_id)

    assert trace["order_id"] == order_id
    assert trace["correlation_id"] == correlation_id
    assert not trace["truncated"]
    got = [(m["topic"], m["partition"], m["offset"], m["event_id"]) for m in trace["messages"]]
    expected = [
        (topic, m.partition(), m.offset(), header(m, "event_id"))
        for topic in SAGA_TOPICS
        for m in keyed_messages(topic, order_id)
    ]
    assert sorted(got) == sorted(expected)
    for topic in SAGA_TOPICS:  # each topic's messages in offset order
        offsets = [offset for t, _, offset, _ in got if t == topic]
        assert offsets == sorted(offsets), topic
    types = event_types(trace)
    assert [types.index(t) for t in SAGA] == sorted(types.index(t) for t in SAGA)
    assert {m["key"] for m in trace["messages"]} == {order_id}
    assert {m["headers"]["correlation_id"] for m in trace["messages"]} == {correlation_id}
    assert [s["event_type"] for s in trace["timeline"]][: len(SAGA)] == SAGA

    # Every consumer's inbox entry, pointing at the message it applied.
    position = {m["event_id"]: (m["topic"], m["partition"], m["offset"]) for m in trace["messages"]}
    applied = applied_by(trace)
    assert applied >= {
        ("product-service", "order.created"),
        ("order-service", "stock.reserved"),
        ("payment-service", "stock.reserved"),
        ("order-service", "payment.authorized"),
        ("product-service", "order.confirmed"),
        ("notification-service", "order.confirmed"),
        ("order-service", "stock.committed"),
    }
    for entry in trace["inbox"]:
        assert position[entry["event_id"]] == (entry["topic"], entry["partition"], entry["offset"])
    assert all(source["available"] for source in trace["inbox_sources"]), trace["inbox_sources"]
    assert {s["service"] for s in trace["inbox_sources"]} >= {"order-service", "product-service"}


def test_only_an_admin_may_trace_and_an_unknown_order_is_not_found(
    api: httpx.Client, admin: User, customer: User
) -> None:
    unknown = str(uuid.uuid4())
    assert api.get(f"/api/ops/orders/{unknown}/trace", headers=admin.auth).status_code == 404
    assert api.get(f"/api/ops/orders/{unknown}/trace", headers=customer.auth).status_code == 403
    assert api.get(f"/api/ops/orders/{unknown}/trace").status_code == 401
    assert api.get("/api/ops/orders/not-an-id/trace", headers=admin.auth).status_code == 422
    for path in ("/api/ops/dlq", "/api/ops/dlq/replays"):
        assert api.get(path, headers=customer.auth).status_code == 403
    refused = api.post("/api/ops/dlq/replay", headers=customer.auth, json={"topic": ORDER_DLQ})
    assert refused.status_code == 403
    # The services' own /ops/inbox is theirs: the gateway does not forward it (outside /api
    # it serves the web app).
    outside = api.get("/ops/inbox", headers=admin.auth, params={"event_id": str(uuid.uuid4())})
    assert not outside.headers["content-type"].startswith("application/json"), outside.text


def dead_letters(api: httpx.Client, admin: User, event_id: str) -> list[dict[str, Any]]:
    response = api.get("/api/ops/dlq", headers=admin.auth)
    assert response.status_code == 200, response.text
    return [d for d in response.json() if d["event_id"] == event_id]


def replays_total(topic: str) -> float:
    return service_metric(OPS_PORT, "dlq_replays_total", topic=topic)


def admin_id(admin: User) -> str:
    return str(jwt.decode(admin.access_token, options={"verify_signature": False})["sub"])


def test_a_poison_message_is_dead_lettered_replayed_recorded_and_dead_lettered_again(
    api: httpx.Client, admin: User
) -> None:
    event_id = str(uuid.uuid4())
    producer = Producer(producer_config(KafkaSettings(), client_id="ops-test"))
    producer.produce(
        "order.events",
        key=str(uuid.uuid4()).encode(),
        value=b"this is not an event envelope",
        headers=[("event_id", event_id.encode()), ("correlation_id", b"ops-poison")],
    )
    assert producer.flush(30) == 0
    # Every consumer group of order.events gives up on it at once (it cannot be parsed).
    consumers = {"product-service", "payment-service", "notification-service"}
    letters = wait_for(
        lambda: (
            (found := dead_letters(api, admin, event_id))
            and {d["consumer"] for d in found} == consumers
            and found
        ),
        timeout=60,
        what="the poison message in order.events.dlq",
    )
    assert {d["error_type"] for d in letters} == {"EnvelopeError"}
    assert {(d["original_topic"], d["attempts"], d["replayed_at"]) for d in letters} == {
        ("order.events", 1, None)
    }
    listed = subprocess.run(
        [sys.executable, "-m", "devstack", "dlq"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert sum(event_id in line for line in listed.stdout.splitlines()) == len(letters)

    before = replays_total(ORDER_DLQ)
    replayed = api.post(
        "/api/ops/dlq/replay",
        headers=admin.auth,
        json={"topic": ORDER_DLQ, "event_ids": [event_id]},
    )
    assert replayed.status_code == 202, replayed.text
    assert replayed.json()["replayed"] == 1  # one message back, for three consumers' letters
    replay_id = replayed.json()["replay_id"]
    assert replays_total(ORDER_DLQ) == before + 1
    records = api.get("/api/ops/dlq/replays", headers=admin.auth).json()
    record = next(r for r in records if r["replay_id"] == replay_id)
    assert (record["topic"], record["event_ids"], record["count"]) == (ORDER_DLQ, [event_id], 1)
    assert record["replayed_by"] == admin_id(admin)

    # Still poison: every consumer dead-letters the replayed copy, which is a new message.
    first = {(d["partition"], d["offset"]) for d in letters}
    again = wait_for(
        lambda: len(found := dead_letters(api, admin, event_id)) == 2 * len(consumers) and found,
        timeout=60,
        what="the replayed poison message back in the DLQ",
    )
    old = [d for d in again if (d["partition"], d["offset"]) in first]
    new = [d for d in again if (d["partition"], d["offset"]) not in first]
    assert all(d["replayed_at"] for d in old)
    assert {d["consumer"] for d in new} == consumers
    assert not any(d["replayed_at"] for d in new)


def test_a_replay_asks_for_waiting_dead_letters_of_a_dead_letter_topic(
    api: httpx.Client, admin: User
) -> None:
    before = replays_total(ORDER_DLQ)
    nothing = api.post(
        "/api/ops/dlq/replay",
        headers=admin.auth,
        json={"topic": ORDER_DLQ, "event_ids": [str(uuid.uuid4())]},
    )
    assert nothing.status_code == 404, nothing.text
    unknown = api.post("/api/ops/dlq/replay", headers=admin.auth, json={"topic": "nope.events.dlq"})
    assert unknown.status_code == 404, unknown.text
    for body in ({"topic": "order.events"}, {"topic": ORDER_DLQ, "event_ids": []}, {}):
        assert api.post("/api/ops/dlq/replay", headers=admin.auth, json=body).status_code == 422
    assert replays_total(ORDER_DLQ) == before


def read_one(topic: str, partition: int, offset: int) -> Message:
    consumer = Consumer(
        {"bootstrap.servers": layout.KAFKA_BOOTSTRAP, "group.id": f"ops-test-{uuid.uuid4().hex}"}
    )
    try:
        consumer.assign([TopicPartition(topic, partition, offset)])
        message = consumer.poll(10)
        assert message is not None and message.error() is None and message.offset() == offset
        return message
    finally:
        consumer.close()


def test_a_replayed_event_that_was_already_applied_is_skipped_by_the_inbox(
    api: httpx.Client, admin: User, customer: User
) -> None:
    order_id, _ = confirmed_order(api, admin, customer)
    trace = trace_of(api, admin, order_id)
    created = next(m for m in trace["messages"] if m["event_type"] == "order.created")
    message = read_one(created["topic"], created["partition"], created["offset"])
    # As if product_service had given up on it: its copy in the DLQ, as the inbox writes one.
    producer = Producer(producer_config(KafkaSettings(), client_id="ops-test"))
    producer.produce(
        ORDER_DLQ,
        key=message.key(),
        value=message.value(),
        headers=dead_letter_headers(
            message, TimeoutError("lock timeout"), consumer="product-service", attempts=5
        ),
    )
    assert producer.flush(30) == 0
    wait_for(lambda: dead_letters(api, admin, created["event_id"]), what="the copy in the DLQ")
    (item,) = order(api, customer, order_id)["items"]
    product_id = item["product_id"]
    stock_before = stock_row(product_id)
    skipped = {"consumer": "product-service", "event_type": "order.created"}
    product_port = port_of("product_service")
    before = service_metric(product_port, "inbox_duplicates_skipped_total", **skipped)

    replayed = api.post(
        "/api/ops/dlq/replay",
        headers=admin.auth,
        json={"topic": ORDER_DLQ, "event_ids": [created["event_id"]]},
    )
    assert replayed.status_code == 202, replayed.text
    assert replayed.json()["replayed"] == 1

    wait_for(
        lambda: service_metric(product_port, "inbox_duplicates_skipped_total", **skipped) > before,
        timeout=60,
        what="product_service skipping the replayed order.created",
    )
    after = trace_of(api, admin, order_id)
    copies = [m for m in after["messages"] if m["event_id"] == created["event_id"]]
    assert len(copies) == 2 and copies[1]["offset"] > created["offset"]
    applied = [
        e
        for e in after["inbox"]
        if e["event_id"] == created["event_id"] and e["consumer"] == "product-service"
    ]
    assert [(e["offset"]) for e in applied] == [created["offset"]]  # applied once, at first
    assert stock_row(product_id) == stock_before  # nothing reserved twice
    assert order(api, customer, order_id)["status"] == "CONFIRMED"


@pytest.fixture
def fixable_consumer(engines: None) -> Iterator[tuple[str, Any, threading.Event]]:
    """A real inbox consumer on a throw-away topic whose handler fails until ``fixed`` is set:
    (topic, its database engine, fixed)."""
    topic = f"opsfix{uuid.uuid4().hex[:10]}.events"
    ensure_topics(KafkaSettings(), [topic, f"{topic}.dlq"])
    fixed, stop = threading.Event(), threading.Event()

    def handler(session: Session, envelope: Envelope) -> None:
        if not fixed.is_set():
            raise RuntimeError("a bug, fixed later")
        session.execute(
            text("INSERT INTO effects (event_id) VALUES (:e)"), {"e": envelope.event_id}
        )

    with scratch_database("opsfix") as url:
        engine = create_engine(sqlalchemy_url(url))
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE effects (event_id uuid)"))
        consumer = InboxConsumer(
            name=f"opsfix-{uuid.uuid4().hex[:8]}",
            topics=[topic],
            handlers={"test.recorded": handler},
            session_factory=sessionmaker(engine),
            kafka=KafkaSettings(),
            retry=RetryPolicy(max_attempts=2, initial_backoff=0.01),
        )
        thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
        thread.start()
        try:
            yield topic, engine, fixed
        finally:
            stop.set()
            thread.join(30)
            engine.dispose()
            admin = admin_client(KafkaSettings())
            for future in admin.delete_topics([topic, f"{topic}.dlq"]).values():
                future.result(30)


def test_a_dead_lettered_event_whose_handler_was_fixed_is_applied_once_when_replayed(
    api: httpx.Client, admin: User, fixable_consumer: tuple[str, Any, threading.Event]
) -> None:
    topic, engine, fixed = fixable_consumer
    event = Envelope(
        event_type="test.recorded", aggregate_type="opsfix", aggregate_id="k1", payload={}
    )
    producer = Producer(producer_config(KafkaSettings(), client_id="ops-test"))
    producer.produce(
        topic,
        key=b"k1",
        value=event.to_json(),
        headers=[("event_id", str(event.event_id).encode()), ("event_type", b"test.recorded")],
    )
    assert producer.flush(30) == 0
    (letter,) = wait_for(
        lambda: dead_letters(api, admin, str(event.event_id)), timeout=60, what="the dead letter"
    )
    assert (letter["topic"], letter["error_type"], letter["attempts"]) == (
        f"{topic}.dlq",
        "RuntimeError",
        2,
    )

    fixed.set()
    replayed = api.post("/api/ops/dlq/replay", headers=admin.auth, json={"topic": f"{topic}.dlq"})
    assert replayed.status_code == 202, replayed.text
    assert replayed.json()["replayed"] == 1

    def effects() -> int:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM effects")).scalar_one())

    wait_for(lambda: effects() == 1, timeout=60, what="the fixed handler applying the event")
    with engine.connect() as conn:
        inbox = conn.execute(
            text("SELECT topic FROM inbox WHERE event_id = :e"), {"e": event.event_id}
        ).all()
    assert [row[0] for row in inbox] == [topic]
    # Nothing waits any more: a second replay of the whole topic puts nothing back.
    again = api.post("/api/ops/dlq/replay", headers=admin.auth, json={"topic": f"{topic}.dlq"})
    assert again.json() == {"replayed": 0, "replay_id": None}
    assert effects() == 1


def test_make_trace_prints_the_timeline_and_the_log_lines_of_the_order(
    api: httpx.Client, admin: User, customer: User
) -> None:
    order_id, correlation_id = confirmed_order(api, admin, customer)
    run = subprocess.run(
        [sys.executable, "-m", "devstack", "trace", order_id],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[:2] == [f"order {order_id}", f"correlation id {correlation_id}"]
    timeline = lines[lines.index(next(x for x in lines if x.startswith("timeline"))) :]
    kinds = [line.split()[1] for line in timeline[1:] if line.startswith("  ")]
    assert {"saga", "kafka", "inbox"} <= set(kinds)
    assert any("order.events[" in line and "order.created" in line for line in timeline)
    logs = lines[lines.index(next(x for x in lines if x.startswith("log lines"))) + 1 :]
    processes = {line.split()[1] for line in logs}
    assert {"order_service", "product_service", "payment_service"} <= processes
    assert any("order_created" in line and order_id in line for line in logs)
    stamps = [line.split()[0] for line in logs]
    assert stamps == sorted(stamps)  # merged in time order
