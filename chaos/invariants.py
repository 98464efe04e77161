"""What must hold once the platform is quiet again, however it was hurt on the way.

Each check reads the truth where it is kept (every service's database, the broker, the mail
sink's Maildir, the SMS sink's API), never the platform's own view of itself, and returns how
many things it checked and every violation it found. Only what the run made is looked at: its
customers, its products, its orders, and Kafka records written since it started.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg2
import psycopg2.extensions
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Message, TopicPartition
from confluent_kafka.admin import AdminClient

from devstack import layout, topology
from servicekit.messaging.kafka import KafkaHeaders

FINAL = frozenset({"CONFIRMED", "REJECTED", "CANCELLED"})
KIND_OF_STATUS = {
    "CONFIRMED": "order_confirmed",
    "CANCELLED": "order_cancelled",
    "REJECTED": "order_rejected",
}
# Money the customer is out of: held (card), received (pix), or still on its way back.
NET_CHARGE_STATUSES = frozenset({"AUTHORIZED", "REFUNDING"})
# A payment still on its way: a pix charge being made or waiting to be paid, or a refund.
UNSETTLED_PAYMENT_STATUSES = ("PENDING", "AWAITING_PAYMENT", "REFUNDING")
UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MESSAGE_ID_PATTERN = re.compile(rb"^Message-ID:\s*<([^@>]+)@", re.MULTILINE | re.IGNORECASE)
KAFKA_TIMEOUT = 10.0


@dataclass
class Check:
    """One invariant: how many things it looked at and what broke it."""

    name: str
    checked: int = 0
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No violation."""
        return not self.violations


@dataclass(frozen=True)
class Scope:
    """What one run made, which is all the checks look at."""

    customer_ids: list[str]
    channels: dict[str, tuple[str, ...]]  # customer -> the channels it is told on
    product_ids: list[str]
    keys: set[str]  # every Idempotency-Key the clients sent
    accepted: dict[str, set[str]]  # key -> every order id an answer named
    since: float  # wall-clock start of the run: Kafka records and mails from then on


@contextmanager
def connect(database: str) -> Iterator[psycopg2.extensions.connection]:
    """A short read-only connection to one service database, as the bootstrap superuser (the
    checker reads every database; no platform process has that right)."""
    conn = psycopg2.connect(layout.admin_url(database), connect_timeout=5)
    try:
        conn.set_session(readonly=True, autocommit=True)
        yield conn
    finally:
        conn.close()


def rows(database: str, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Every row of one query."""
    with connect(database) as conn, conn.cursor() as cur:
        cur.execute(statement, params)
        return list(cur.fetchall())


@dataclass
class Snapshot:
    """The state of everything the run made, read once for all the checks."""

    orders: dict[str, dict[str, Any]]  # order_id -> order row
    items: list[tuple[str, str, int]]  # (order_id, product_id, quantity)
    products: dict[str, dict[str, int]]
    payments: dict[str, str]  # order_id -> status
    notifications: list[dict[str, Any]]
    payment_events: list[tuple[str, str, str]]  # (order_id, event_type, event_id)
    dead_letter_topics: list[str]
    dead_letters: list[str]  # topic:partition:offset
    unpublished: dict[str, int]  # service database -> outbox rows the relay has not published
    mail_ids: Counter[str]  # Message-ID (a notification id) -> copies in the Maildir
    sms: list[dict[str, Any]]


def read_orders(customer_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The run's orders in order_service's database."""
    result = rows(
        "order_service",
        "SELECT order_id::text, customer_id::text, status, failure_reason, idempotency_key"
        " FROM orders WHERE customer_id = ANY(%s::uuid[])",
        (customer_ids,),
    )
    names = ("order_id", "customer_id", "status", "failure_reason", "idempotency_key")
    return {row[0]: dict(zip(names, row, strict=True)) for row in result}


def snapshot(scope: Scope) -> Snapshot:
    """Read everything the checks need."""
    orders = read_orders(scope.customer_ids)
    order_ids = list(orders)
    items = [
        (str(o), str(p), int(q))
        for o, p, q in rows(
            "order_service",
            "SELECT order_id::text, product_id::text, quantity FROM order_items"
            " WHERE order_id = ANY(%s::uuid[])",
            (order_ids,),
        )
    ]
    products = {
        str(row[0]): {
            "initial": int(row[1]),
            "adjusted": int(row[2]),
            "available": int(row[3]),
            "reserved": int(row[4]),
            "sold": int(row[5]),
        }
        for row in rows(
            "product_service",
            "SELECT product_id::text, stock_initial, stock_adjusted, stock_available,"
            " stock_reserved, stock_sold FROM products WHERE product_id = ANY(%s::uuid[])",
            (scope.product_ids,),
        )
    }
    payments = {
        str(o): str(s)
        for o, s in rows(
            "payment_service",
            "SELECT order_id::text, status FROM payments WHERE order_id = ANY(%s::uuid[])",
            (order_ids,),
        )
    }
    names = (
        "notification_id", "user_id", "kind", "channel", "status", "recipient", "subject", "body"
    )  # fmt: skip
    notifications = [
        dict(zip(names, row, strict=True))
        for row in rows(
            "notification_service",
            f"SELECT {', '.join(names[:2])}::text, {', '.join(names[2:])} FROM notifications"
            " WHERE user_id = ANY(%s::uuid[])",
            (scope.customer_ids,),
        )
    ]
    for note in notifications:
        note["notification_id"] = str(note["notification_id"])
    wanted = set(order_ids)
    dead_letter_topics = dlq_topics()
    payment_events = [
        (key, event_type, event_id)
        for key, event_type, event_id, _ in read_topics(["payment.events"], scope.since)
        if key in wanted
    ]
    return Snapshot(
        orders=orders,
        items=items,
        products=products,
        payments=payments,
        notifications=notifications,
        payment_events=payment_events,
        dead_letter_topics=dead_letter_topics,
        dead_letters=[where for *_, where in read_topics(dead_letter_topics, scope.since)],
        unpublished=unpublished_outbox_rows(),
        mail_ids=mail_message_ids(layout.MAIL_DIR, scope.since),
        sms=sms_messages(),
    )


# -- the broker -------------------------------------------------------------------------------


def _quiet_logger() -> logging.Logger:
    # librdkafka reports every refused connection while the broker restarts: expected here.
    logger = logging.getLogger("chaos.kafka")
    logger.propagate = False
    logger.setLevel(logging.CRITICAL)
    return logger


def _kafka() -> dict[str, Any]:
    return {
        # Every broker of the topology `make up` started, so that one of them down reads on.
        "bootstrap.servers": topology.kafka_bootstrap(topology.read_topology()),
        "socket.timeout.ms": 10_000,
        "logger": _quiet_logger(),
    }


def dlq_topics() -> list[str]:
    """Every dead-letter topic on the broker."""
    topics = AdminClient(_kafka()).list_topics(timeout=KAFKA_TIMEOUT).topics
    return sorted(t for t in topics if t.endswith(".dlq"))


def read_topics(topics: list[str], since: float) -> list[tuple[str, str, str, str]]:
    """Every record of ``topics`` written since ``since`` (wall clock): (key, event_type
    header, event_id header, topic:partition:offset). A throw-away consumer that joins no group
    and commits nothing reads them by timestamp up to each partition's end."""
    consumer = Consumer(
        {**_kafka(), "group.id": f"chaos-check-{uuid.uuid4()}", "enable.auto.commit": False}
    )
    try:
        metadata = consumer.list_topics(timeout=KAFKA_TIMEOUT)
        wanted = [
            TopicPartition(topic, partition, int(since * 1000))
            for topic in topics
            if topic in metadata.topics
            for partition in metadata.topics[topic].partitions
        ]
        if not wanted:
            return []
        ends: dict[tuple[str, int], int] = {}
        start = []
        for found in consumer.offsets_for_times(wanted, timeout=KAFKA_TIMEOUT):
            _, high = consumer.get_watermark_offsets(
                TopicPartition(found.topic, found.partition), timeout=KAFKA_TIMEOUT
            )
            if 0 <= found.offset < high:
                ends[(found.topic, found.partition)] = high
                start.append(found)
        records: list[tuple[str, str, str, str]] = []
        if not start:
            return records
        consumer.assign(start)
        deadline = time.monotonic() + 60
        while ends and time.monotonic() < deadline:
            for message in consumer.consume(500, 1.0):
                if message.error() is not None:
                    continue
                records.append(_record(message))
                where = (message.topic() or "", message.partition() or 0)
                if (message.offset() or 0) + 1 >= ends.get(where, 0):
                    ends.pop(where, None)
        if ends:
            raise RuntimeError(f"could not read {sorted(ends)} to their end within 60 s")
        return records
    finally:
        consumer.close()


def _record(message: Message) -> tuple[str, str, str, str]:
    raw: KafkaHeaders = list(message.headers() or [])  # type: ignore[arg-type]
    headers = {
        name: value.decode(errors="replace") if isinstance(value, bytes) else str(value or "")
        for name, value in raw
    }
    key = (message.key() or b"").decode(errors="replace")
    where = f"{message.topic()}:{message.partition()}:{message.offset()}"
    return key, headers.get("event_type", ""), headers.get("event_id", ""), where


def live_consumer_groups() -> set[str]:
    """The consumer groups with members now (dead groups, such as those of finished tests, are
    nobody's backlog)."""
    admin = AdminClient(_kafka())  # kept alive until the answer is in: its end cancels the call
    listed = admin.list_consumer_groups(request_timeout=KAFKA_TIMEOUT).result(KAFKA_TIMEOUT)
    if listed.errors:
        raise RuntimeError(f"listing the consumer groups failed: {listed.errors[0]}")
    return {g.group_id for g in listed.valid if str(g.state).endswith("STABLE")}


def consumer_lag(groups: set[str]) -> dict[str, int]:
    """Messages not yet consumed per group; -1 for a group that is not consuming (rebalancing,
    or no member)."""
    if not groups:
        return {}
    admin = AdminClient(_kafka())
    live = live_consumer_groups()
    lag: dict[str, int] = {group: -1 for group in groups - live}
    probe = Consumer({**_kafka(), "group.id": f"chaos-probe-{uuid.uuid4()}"})
    try:
        for group in sorted(groups & live):
            request = [ConsumerGroupTopicPartitions(group)]
            future = admin.list_consumer_group_offsets(request)[group]
            committed = future.result(timeout=KAFKA_TIMEOUT).topic_partitions or []
            behind = 0
            for partition in committed:
                if partition.offset < 0:
                    continue
                _, high = probe.get_watermark_offsets(
                    TopicPartition(partition.topic, partition.partition), timeout=KAFKA_TIMEOUT
                )
                behind += max(0, high - partition.offset)
            lag[group] = behind
    finally:
        probe.close()
    return lag


# -- the databases' outboxes --------------------------------------------------------------------

UNPUBLISHED_SQL = """
SELECT count(*) FROM outbox o, outbox_relay_position p
WHERE o.txid > p.txid OR (o.txid = p.txid AND o.id > p.last_id) OR o.txid = ANY(p.in_progress)
"""


def unpublished_outbox_rows() -> dict[str, int]:
    """Outbox rows the relay has not published yet, per service database."""
    counts = {}
    for service in layout.SERVICES:
        found = rows(service.database, UNPUBLISHED_SQL)
        counts[service.database] = int(found[0][0]) if found else 0
    return counts


# -- the sinks -------------------------------------------------------------------------------------


def mail_message_ids(maildir: Path, since: float) -> Counter[str]:
    """Message-ID (the notification id before the @) of every mail delivered since ``since``,
    with how many copies arrived: delivery is at least once, with the same Message-ID."""
    found: Counter[str] = Counter()
    for folder in ("new", "cur"):
        directory = maildir / folder
        if not directory.is_dir():
            continue
        for path in directory.iterdir():
            try:
                if path.stat().st_mtime < since - 5:
                    continue
                with path.open("rb") as mail:
                    head = mail.read(4096)
            except FileNotFoundError:
                continue
            match = MESSAGE_ID_PATTERN.search(head)
            if match:
                found[match.group(1).decode(errors="replace")] += 1
    return found


def sms_messages() -> list[dict[str, Any]]:
    """Every message the SMS sink holds (the latest 10 000)."""
    url = f"http://127.0.0.1:{layout.SMS_SINK_PORT}/messages"
    response = httpx.get(url, params={"limit": 10_000}, timeout=10)
    response.raise_for_status()
    messages: list[dict[str, Any]] = response.json()
    return messages


# -- the invariants -----------------------------------------------------------------------------


def check_all(scope: Scope, state: Snapshot) -> list[Check]:
    """Every invariant, in the order they are printed."""
    return [
        accepted_orders_terminal(scope, state),
        one_order_per_key(scope, state),
        stock_conserved(state),
        sold_equals_confirmed(state),
        no_net_charge_unless_confirmed(state),
        one_authorization_per_confirmed(state),
        one_notification_per_event_and_channel(scope, state),
        one_message_per_notification(state),
        dead_letter_topics_empty(state),
        outboxes_drained(state),
    ]


def accepted_orders_terminal(scope: Scope, state: Snapshot) -> Check:
    """Every order a client saw accepted (and every order of the run's customers) ended."""
    check = Check("every accepted order terminal")
    accepted = {order_id for ids in scope.accepted.values() for order_id in ids}
    for order_id in sorted(accepted | set(state.orders)):
        check.checked += 1
        order = state.orders.get(order_id)
        if order is None:
            check.violations.append(f"order {order_id} was accepted but does not exist")
        elif order["status"] not in FINAL:
            check.violations.append(f"order {order_id} is still {order['status']}")
    return check


def one_order_per_key(scope: Scope, state: Snapshot) -> Check:
    """One order per Idempotency-Key, and every retry of a key answered with that order."""
    check = Check("one order per Idempotency-Key")
    by_key: defaultdict[str | None, list[str]] = defaultdict(list)
    for order_id, order in state.orders.items():
        by_key[order["idempotency_key"]].append(order_id)
    for key in sorted(scope.keys):
        check.checked += 1
        made = by_key.pop(key, [])
        if len(made) > 1:
            check.violations.append(f"key {key} made {len(made)} orders: {sorted(made)}")
        answered = scope.accepted.get(key, set())
        if len(answered) > 1:
            check.violations.append(f"key {key} was answered with orders {sorted(answered)}")
        if answered and set(made) != answered:
            check.violations.append(f"key {key}: answered {sorted(answered)}, made {made}")
    for stray_key, made in by_key.items():
        check.violations.append(f"orders {sorted(made)} carry a key no client sent: {stray_key!r}")
    return check


def stock_conserved(state: Snapshot) -> Check:
    """Per product: initial + adjustments = available + reserved + sold, nothing left reserved."""
    check = Check("stock conserved")
    for product_id, stock in sorted(state.products.items()):
        check.checked += 1
        total = stock["initial"] + stock["adjusted"]
        held = stock["available"] + stock["reserved"] + stock["sold"]
        if total != held:
            check.violations.append(f"product {product_id}: {total} units made, {held} accounted")
        if stock["reserved"] != 0:
            check.violations.append(
                f"product {product_id}: {stock['reserved']} units still reserved"
            )
        if stock["available"] < 0:
            check.violations.append(f"product {product_id}: {stock['available']} available")
    return check


def sold_equals_confirmed(state: Snapshot) -> Check:
    """Per product: units sold = units of its confirmed orders."""
    check = Check("sold = confirmed quantities")
    confirmed: Counter[str] = Counter()
    for order_id, product_id, quantity in state.items:
        if state.orders[order_id]["status"] == "CONFIRMED":
            confirmed[product_id] += quantity
    for product_id, stock in sorted(state.products.items()):
        check.checked += 1
        if stock["sold"] != confirmed[product_id]:
            check.violations.append(
                f"product {product_id}: {stock['sold']} sold, {confirmed[product_id]} confirmed"
            )
    return check


def _authorizations(state: Snapshot) -> Counter[str]:
    return Counter(
        order_id
        for order_id, event_type, _ in set(state.payment_events)
        if event_type == "payment.authorized"
    )


def no_net_charge_unless_confirmed(state: Snapshot) -> Check:
    """A cancelled or rejected order holds no money: never authorized, or refunded."""
    check = Check("no net charge on a cancelled/rejected order")
    authorized = _authorizations(state)
    refunded = Counter(
        order_id
        for order_id, event_type, _ in set(state.payment_events)
        if event_type == "payment.refunded"
    )
    for order_id, order in sorted(state.orders.items()):
        if order["status"] not in ("CANCELLED", "REJECTED"):
            continue
        check.checked += 1
        status = state.payments.get(order_id)
        if status in NET_CHARGE_STATUSES:
            check.violations.append(f"order {order_id} is {order['status']}, payment {status}")
        if authorized[order_id] != refunded[order_id]:
            check.violations.append(
                f"order {order_id} is {order['status']}: {authorized[order_id]} authorizations,"
                f" {refunded[order_id]} refunds"
            )
    return check


def one_authorization_per_confirmed(state: Snapshot) -> Check:
    """A confirmed order is authorized once: one AUTHORIZED payment, one payment.authorized."""
    check = Check("one authorization per confirmed order")
    authorized = _authorizations(state)
    for order_id, order in sorted(state.orders.items()):
        if order["status"] != "CONFIRMED":
            continue
        check.checked += 1
        status = state.payments.get(order_id)
        if status != "AUTHORIZED":
            check.violations.append(f"order {order_id} is CONFIRMED, payment {status}")
        if authorized[order_id] != 1:
            check.violations.append(
                f"order {order_id}: {authorized[order_id]} payment.authorized events"
            )
    return check


def _order_of(note: dict[str, Any]) -> str | None:
    match = UUID_PATTERN.search(str(note["subject"]))
    return match.group(0) if match else None


def one_notification_per_event_and_channel(scope: Scope, state: Snapshot) -> Check:
    """Each order's placing and its ending are told once on each of its customer's channels, and
    nothing else is told about it (a SKIPPED notification, on a channel the customer turned out
    not to take, was never sent)."""
    check = Check("one notification per (event, channel)")
    told: Counter[tuple[str, str, str]] = Counter()
    for note in state.notifications:
        if note["kind"] == "welcome" or note["status"] == "SKIPPED":
            continue
        order_id = _order_of(note)
        if order_id is None or order_id not in state.orders:
            check.violations.append(f"notification {note['notification_id']} names no run order")
            continue
        told[(order_id, note["kind"], note["channel"])] += 1
    for order_id, order in sorted(state.orders.items()):
        if order["status"] not in FINAL:
            continue
        for kind in ("order_placed", KIND_OF_STATUS[order["status"]]):
            for channel in scope.channels.get(order["customer_id"], ("email",)):
                check.checked += 1
                count = told.pop((order_id, kind, channel), 0)
                if count != 1:
                    check.violations.append(f"order {order_id}: {count} {kind} on {channel}")
    for (order_id, kind, channel), count in sorted(told.items()):
        check.violations.append(f"order {order_id}: {count} unexpected {kind} on {channel}")
    return check


def one_message_per_notification(state: Snapshot) -> Check:
    """Every notification sent, and exactly one mail (by Message-ID) or SMS for each."""
    check = Check("one mail/SMS per notification")
    sms = Counter((m["to"], m["body"]) for m in state.sms)
    for note in state.notifications:
        if note["status"] == "SKIPPED":
            continue
        check.checked += 1
        note_id = note["notification_id"]
        if note["status"] != "SENT":
            check.violations.append(f"notification {note_id} is {note['status']}")
        elif note["channel"] == "email" and state.mail_ids[note_id] == 0:
            check.violations.append(f"notification {note_id} SENT, no mail with its id")
        elif note["channel"] == "sms":
            # The sink keeps one message per Idempotency-Key (the notification's id), so a
            # resend is stored once; the text names the order and what happened to it.
            copies = sms[(note["recipient"], note["body"])]
            if copies != 1:
                check.violations.append(f"notification {note_id}: {copies} SMS")
    return check


def dead_letter_topics_empty(state: Snapshot) -> Check:
    """No message went to a dead-letter topic during the run."""
    check = Check("nothing in the DLQs")
    check.checked = len(state.dead_letter_topics)
    check.violations.extend(f"dead letter {where}" for where in state.dead_letters)
    return check


def outboxes_drained(state: Snapshot) -> Check:
    """Every outbox row of every service database was published."""
    check = Check("outboxes drained")
    for database, count in sorted(state.unpublished.items()):
        check.checked += 1
        if count:
            check.violations.append(f"{database}: {count} outbox rows not published")
    return check
