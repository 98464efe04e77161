"""Stock reservations against the real PostgreSQL: all or nothing, release and commit exactly
once, no overselling and no deadlock under concurrent orders, stock conserved, and the events
each step leaves in the outbox. Handlers are called the way InboxConsumer calls them: through
the subscriptions table, inside ``with session.begin()``; the last test runs them behind a real
InboxConsumer over Kafka."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from confluent_kafka import Producer
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from contracts.events import CATALOG
from devstack import layout
from product_service.adapters.repository import SqlProductUnitOfWork
from product_service.application import commands
from product_service.consumers import SUBSCRIPTIONS
from product_service.domain.product import Product, ProductChanges
from servicekit.messaging.envelope import Envelope, topic_for
from servicekit.messaging.inbox import InboxConsumer
from servicekit.messaging.kafka import ensure_topics
from servicekit.messaging.unit_of_work import run
from servicekit.settings import KafkaSettings
from tests.support import scratch_database, sqlalchemy_url, wait_for

pytestmark = pytest.mark.integration

DEADLINE = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(engines: None) -> Iterator[Engine]:
    """The product service's schema, by its own migrations, on a throw-away database."""
    with scratch_database("product_stock", migrations="product_service") as libpq_url:
        url = sqlalchemy_url(libpq_url)
        # Room for 50 concurrent handlers; a lock wait that long means a bug, not load.
        engine = create_engine(
            url, pool_size=60, max_overflow=10, connect_args={"options": "-c lock_timeout=20000"}
        )
        yield engine
        engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


# -- helpers ---------------------------------------------------------------------------------


HANDLERS = SUBSCRIPTIONS.handlers()


def apply(sessions: sessionmaker[Session], event: Envelope) -> None:
    """The event's handler (by type, from the subscriptions table) in its own transaction, as
    the inbox consumer runs it."""
    with sessions() as session, session.begin():
        HANDLERS[event.event_type](session, event)


def add_product(
    sessions: sessionmaker[Session], stock: int, price: str = "10.00", currency: str = "EUR"
) -> str:
    command = commands.CreateProduct(
        sku=f"SKU-{uuid.uuid4().hex[:10]}",
        name="Test product",
        description=None,
        price=Decimal(price),
        currency=currency,
        stock=stock,
    )
    product = run(sessions, SqlProductUnitOfWork, lambda uow: commands.create_product(command, uow))
    return product.product_id


def set_stock(sessions: sessionmaker[Session], product_id: str, available: int) -> Product:
    """An admin sets the available quantity."""
    command = commands.UpdateProduct(product_id, ProductChanges(stock=available), actor="admin-1")
    return run(sessions, SqlProductUnitOfWork, lambda uow: commands.update_product(command, uow))


def envelope(event_type: str, order_id: str, **payload: Any) -> Envelope:
    body = CATALOG.dump(event_type, {"order_id": order_id, **payload})
    return Envelope(
        event_type=event_type,
        aggregate_type="order",
        aggregate_id=order_id,
        payload=body,
        correlation_id=f"corr-{order_id[:8]}",
    )


def order_created(
    items: list[tuple[str, int]], *, currency: str = "EUR", order_id: str | None = None
) -> Envelope:
    return envelope(
        "order.created",
        order_id or str(uuid.uuid4()),
        customer_id=str(uuid.uuid4()),
        items=[{"product_id": pid, "quantity": qty} for pid, qty in items],
        currency=currency,
        deadline_at=DEADLINE,
    )


def order_cancelled(order_id: str, reason: str = "customer asked") -> Envelope:
    return envelope("order.cancelled", order_id, customer_id=str(uuid.uuid4()), reason=reason)


def order_rejected(order_id: str) -> Envelope:
    return envelope(
        "order.rejected", order_id, customer_id=str(uuid.uuid4()), reason="payment declined"
    )


def order_confirmed(order_id: str) -> Envelope:
    return envelope(
        "order.confirmed",
        order_id,
        customer_id=str(uuid.uuid4()),
        items=[],
        total="0.00",
        currency="EUR",
    )


def stock(engine: Engine, product_id: str) -> dict[str, int]:
    with engine.connect() as conn:
        row = (
            conn.execute(
                text(
                    "SELECT stock_initial AS initial, stock_adjusted AS adjusted,"
                    " stock_available AS available, stock_reserved AS reserved,"
                    " stock_sold AS sold FROM products WHERE product_id = :p"
                ),
                {"p": product_id},
            )
            .mappings()
            .one()
        )
    return {key: int(value) for key, value in row.items()}


def reservation(engine: Engine, order_id: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = (
            conn.execute(text("SELECT * FROM reservations WHERE order_id = :o"), {"o": order_id})
            .mappings()
            .first()
        )
    return dict(row) if row else None


def events(engine: Engine, aggregate_id: str | None = None) -> list[dict[str, Any]]:
    """Outbox rows of the stock_reservation aggregate (one order's, or all), in write order."""
    query = "SELECT * FROM outbox WHERE aggregate_type = 'stock_reservation'"
    if aggregate_id is not None:
        query += " AND aggregate_id = :a"
    with engine.connect() as conn:
        rows = conn.execute(text(query + " ORDER BY id"), {"a": aggregate_id}).mappings().all()
    return [dict(row) for row in rows]


def assert_conserved(engine: Engine) -> None:
    """initial + adjusted = available + reserved + sold, and the counters match the
    reservations: reserved = held lines, sold = committed lines, per product."""
    with engine.connect() as conn:
        broken = conn.execute(
            text(
                """
                SELECT p.product_id FROM products p
                LEFT JOIN LATERAL (
                    SELECT
                        coalesce(sum(l.quantity) FILTER (WHERE r.status = 'RESERVED'), 0) AS held,
                        coalesce(sum(l.quantity) FILTER (WHERE r.status = 'COMMITTED'), 0) AS sold
                    FROM reservation_lines l JOIN reservations r USING (order_id)
                    WHERE l.product_id = p.product_id
                ) lines ON true
                WHERE p.stock_initial + p.stock_adjusted
                          <> p.stock_available + p.stock_reserved + p.stock_sold
                   OR p.stock_reserved <> lines.held
                   OR p.stock_sold <> lines.sold
                   OR p.stock_available < 0
                """
            )
        ).all()
    assert broken == [], f"stock not conserved for {broken}"


# -- reservation -----------------------------------------------------------------------------


def test_reserves_every_line_and_emits_stock_reserved(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    a = add_product(sessions, 10, price="19.99")
    b = add_product(sessions, 5, price="5.5")
    # Two lines of one product count together.
    created = order_created([(a, 2), (b, 3), (a, 1)])
    order_id = created.payload["order_id"]

    apply(sessions, created)

    assert stock(engine, a) == {
        "initial": 10,
        "adjusted": 0,
        "available": 7,
        "reserved": 3,
        "sold": 0,
    }
    assert stock(engine, b) == {
        "initial": 5,
        "adjusted": 0,
        "available": 2,
        "reserved": 3,
        "sold": 0,
    }
    held = reservation(engine, order_id)
    assert held is not None
    assert held["status"] == "RESERVED" and held["total"] == Decimal("76.47")
    assert held["currency"] == "EUR" and held["deadline_at"] == DEADLINE
    [row] = events(engine, order_id)
    assert topic_for(row["aggregate_type"]) == "stock_reservation.events"
    assert row["aggregate_id"] == order_id
    assert row["event_type"] == "stock.reserved"
    assert row["event_version"] == 1
    expected_items = sorted(
        [
            {"product_id": a, "quantity": 3, "unit_price": "19.99"},
            {"product_id": b, "quantity": 3, "unit_price": "5.50"},
        ],
        key=lambda item: item["product_id"],
    )
    assert row["payload"] == {
        "order_id": order_id,
        "customer_id": created.payload["customer_id"],
        "items": expected_items,
        "total": "76.47",
        "currency": "EUR",
        "deadline_at": "2030-01-01T12:00:00Z",
        # Copied from order.created: payment_service charges by it.
        "payment_method": "card",
    }
    assert row["headers"] == {
        "correlation_id": created.correlation_id,
        "causation_id": str(created.event_id),
    }
    assert_conserved(engine)


def test_one_short_line_reserves_nothing(engine: Engine, sessions: sessionmaker[Session]) -> None:
    a = add_product(sessions, 10)
    b = add_product(sessions, 2)
    created = order_created([(a, 4), (b, 3)])
    order_id = created.payload["order_id"]

    apply(sessions, created)

    assert stock(engine, a)["available"] == 10 and stock(engine, a)["reserved"] == 0
    assert stock(engine, b)["available"] == 2 and stock(engine, b)["reserved"] == 0
    [row] = events(engine, order_id)
    assert row["event_type"] == "stock.reservation_failed"
    assert row["aggregate_id"] == order_id
    reason = f"insufficient stock for product {b}: requested 3, available 2"
    assert row["payload"] == {
        "order_id": order_id,
        "customer_id": created.payload["customer_id"],
        "reason": reason,
    }
    assert row["headers"]["causation_id"] == str(created.event_id)
    failed = reservation(engine, order_id)
    assert failed is not None
    assert failed["status"] == "FAILED" and failed["failure_reason"] == reason
    assert_conserved(engine)


@pytest.mark.parametrize(
    ("lines", "currency", "reason"),
    [
        (lambda a, unknown: [(a, 1), (unknown, 1)], "EUR", "unknown product: {unknown}"),
        (lambda a, unknown: [(a, 1), ("not-a-uuid", 1)], "EUR", "unknown product: not-a-uuid"),
        (
            lambda a, unknown: [(a, 1)],
            "USD",
            "currency mismatch for product {a}: priced in EUR, order in USD",
        ),
        (lambda a, unknown: [(a, 0)], "EUR", "quantity must be at least 1: {a} (0)"),
        (lambda a, unknown: [], "EUR", "order has no items"),
    ],
    ids=["unknown-product", "malformed-product-id", "currency-mismatch", "zero-quantity", "empty"],
)
def test_refusals_say_why_and_hold_nothing(
    engine: Engine,
    sessions: sessionmaker[Session],
    lines: Callable[[str, str], list[tuple[str, int]]],
    currency: str,
    reason: str,
) -> None:
    a = add_product(sessions, 10)
    unknown = str(uuid.uuid4())
    created = order_created(lines(a, unknown), currency=currency)

    apply(sessions, created)

    [row] = events(engine, created.payload["order_id"])
    assert row["event_type"] == "stock.reservation_failed"
    assert row["payload"]["reason"] == reason.format(a=a, unknown=unknown)
    assert stock(engine, a)["available"] == 10
    assert_conserved(engine)


def test_a_repeated_order_created_reserves_once(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    a = add_product(sessions, 10)
    first = order_created([(a, 4)])
    order_id = first.payload["order_id"]
    # The same order announced again under a new event id (the inbox would not catch it).
    again = envelope(
        "order.created", order_id, **{k: v for k, v in first.payload.items() if k != "order_id"}
    )

    apply(sessions, first)
    apply(sessions, again)

    assert stock(engine, a)["reserved"] == 4
    assert [e["event_type"] for e in events(engine, order_id)] == ["stock.reserved"]


# -- release and commit ----------------------------------------------------------------------


def test_release_gives_units_back_once(engine: Engine, sessions: sessionmaker[Session]) -> None:
    a = add_product(sessions, 10)
    b = add_product(sessions, 10)
    created = order_created([(a, 3), (b, 1)])
    order_id = created.payload["order_id"]
    apply(sessions, created)
    cancelled = order_cancelled(order_id, reason="saga timed out")

    apply(sessions, cancelled)
    # Duplicates (new event ids) and late events for the released reservation change nothing.
    apply(sessions, order_cancelled(order_id))
    apply(sessions, order_rejected(order_id))
    apply(sessions, order_confirmed(order_id))

    assert stock(engine, a) == {
        "initial": 10,
        "adjusted": 0,
        "available": 10,
        "reserved": 0,
        "sold": 0,
    }
    assert stock(engine, b)["available"] == 10 and stock(engine, b)["reserved"] == 0
    held = reservation(engine, order_id)
    assert held is not None and held["status"] == "RELEASED"
    reserved_row, released_row = events(engine, order_id)
    assert reserved_row["event_type"] == "stock.reserved"
    assert released_row["event_type"] == "stock.released"
    assert released_row["aggregate_id"] == order_id
    assert released_row["payload"] == {
        "order_id": order_id,
        "items": sorted(
            [{"product_id": a, "quantity": 3}, {"product_id": b, "quantity": 1}],
            key=lambda item: item["product_id"],
        ),
        "reason": "order cancelled: saga timed out",
    }
    assert released_row["headers"] == {
        "correlation_id": cancelled.correlation_id,
        "causation_id": str(cancelled.event_id),
    }
    assert_conserved(engine)


def test_rejection_releases_too(engine: Engine, sessions: sessionmaker[Session]) -> None:
    a = add_product(sessions, 4)
    created = order_created([(a, 4)])
    order_id = created.payload["order_id"]
    apply(sessions, created)

    apply(sessions, order_rejected(order_id))

    assert stock(engine, a)["available"] == 4
    released = events(engine, order_id)[-1]
    assert released["event_type"] == "stock.released"
    assert released["payload"]["reason"] == "order rejected: payment declined"


def test_commit_sells_reserved_units_once(engine: Engine, sessions: sessionmaker[Session]) -> None:
    a = add_product(sessions, 10)
    created = order_created([(a, 6)])
    order_id = created.payload["order_id"]
    apply(sessions, created)
    confirmed = order_confirmed(order_id)

    apply(sessions, confirmed)
    apply(sessions, order_confirmed(order_id))
    apply(sessions, order_cancelled(order_id))

    assert stock(engine, a) == {
        "initial": 10,
        "adjusted": 0,
        "available": 4,
        "reserved": 0,
        "sold": 6,
    }
    held = reservation(engine, order_id)
    assert held is not None and held["status"] == "COMMITTED"
    _, committed = events(engine, order_id)
    assert committed["event_type"] == "stock.committed"
    assert committed["payload"] == {
        "order_id": order_id,
        "items": [{"product_id": a, "quantity": 6}],
    }
    assert committed["headers"]["causation_id"] == str(confirmed.event_id)
    assert_conserved(engine)


def test_nothing_to_settle_without_a_held_reservation(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    a = add_product(sessions, 1)
    failed = order_created([(a, 2)])
    failed_id = failed.payload["order_id"]
    apply(sessions, failed)
    never_seen = str(uuid.uuid4())

    apply(sessions, order_confirmed(never_seen))
    apply(sessions, order_rejected(failed_id))
    apply(sessions, order_cancelled(failed_id))

    assert reservation(engine, never_seen) is None
    assert [e["event_type"] for e in events(engine)] == ["stock.reservation_failed"]
    assert stock(engine, a)["available"] == 1
    assert_conserved(engine)


@pytest.mark.parametrize("end", [order_cancelled, order_rejected], ids=["cancelled", "rejected"])
def test_an_order_created_after_its_order_ended_reserves_nothing(
    engine: Engine, sessions: sessionmaker[Session], end: Callable[[str], Envelope]
) -> None:
    # order.created was dead-lettered here while the saga timed out; the operator replays it
    # after the cancellation went through. Nothing may be held for an order that is over.
    a = add_product(sessions, 5)
    created = order_created([(a, 2)])
    order_id = created.payload["order_id"]
    ended = end(order_id)

    apply(sessions, ended)
    apply(sessions, created)
    apply(sessions, order_cancelled(order_id))

    voided = reservation(engine, order_id)
    assert voided is not None
    assert (voided["status"], voided["currency"], voided["total"]) == ("VOIDED", None, None)
    assert voided["failure_reason"] == f"order {ended.event_type.split('.')[1]}: " + str(
        ended.payload["reason"]
    )
    assert stock(engine, a) == {
        "initial": 5,
        "adjusted": 0,
        "available": 5,
        "reserved": 0,
        "sold": 0,
    }
    assert events(engine, order_id) == []
    assert_conserved(engine)


# -- archived products -----------------------------------------------------------------------


def test_an_archived_product_is_refused_by_name_while_orders_holding_it_settle(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    a, b = add_product(sessions, 10), add_product(sessions, 10)
    held, sold = order_created([(a, 2)]), order_created([(a, 3)])
    apply(sessions, held)
    apply(sessions, sold)
    archive = commands.ArchiveProduct(a)
    run(sessions, SqlProductUnitOfWork, lambda uow: commands.archive_product(archive, uow))

    late = order_created([(b, 1), (a, 1)])
    apply(sessions, late)
    apply(sessions, order_cancelled(held.payload["order_id"]))
    apply(sessions, order_confirmed(sold.payload["order_id"]))

    [refused] = events(engine, late.payload["order_id"])
    assert refused["event_type"] == "stock.reservation_failed"
    assert refused["payload"]["reason"] == f"archived product: {a}"
    assert stock(engine, b) == {
        "initial": 10,
        "adjusted": 0,
        "available": 10,
        "reserved": 0,
        "sold": 0,
    }
    assert stock(engine, a) == {
        "initial": 10,
        "adjusted": 0,
        "available": 7,
        "reserved": 0,
        "sold": 3,
    }
    assert [e["event_type"] for e in events(engine, held.payload["order_id"])] == [
        "stock.reserved",
        "stock.released",
    ]
    assert [e["event_type"] for e in events(engine, sold.payload["order_id"])] == [
        "stock.reserved",
        "stock.committed",
    ]
    assert_conserved(engine)


# -- admin adjustments and the last line of defence ------------------------------------------


def test_setting_available_stock_keeps_conservation(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    a = add_product(sessions, 10)
    created = order_created([(a, 3)])
    apply(sessions, created)

    product = set_stock(sessions, a, 20)
    assert product is not None and product.stock.available == 20
    assert stock(engine, a) == {
        "initial": 10,
        "adjusted": 13,
        "available": 20,
        "reserved": 3,
        "sold": 0,
    }
    set_stock(sessions, a, 0)
    apply(sessions, order_cancelled(created.payload["order_id"]))

    assert stock(engine, a) == {
        "initial": 10,
        "adjusted": -7,
        "available": 3,
        "reserved": 0,
        "sold": 0,
    }
    with engine.connect() as conn:
        deltas = (
            conn.execute(
                text(
                    "SELECT delta FROM stock_adjustments WHERE product_id = :p"
                    " ORDER BY adjustment_id"
                ),
                {"p": a},
            )
            .scalars()
            .all()
        )
    assert deltas == [13, -20]
    assert_conserved(engine)


@pytest.mark.parametrize(
    "assignment",
    [
        "stock_available = -1, stock_adjusted = stock_adjusted - stock_available - 1",
        "stock_reserved = stock_reserved - 1, stock_available = stock_available + 1",
        "stock_available = stock_available + 1",
    ],
    ids=["negative-available", "negative-reserved", "unconserved"],
)
def test_the_schema_refuses_broken_stock(
    engine: Engine, sessions: sessionmaker[Session], assignment: str
) -> None:
    a = add_product(sessions, 5)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text(f"UPDATE products SET {assignment} WHERE product_id = :p"), {"p": a})
    assert stock(engine, a)["available"] == 5


@pytest.mark.parametrize(
    ("status", "currency", "total", "reason"),
    [
        ("VOIDED", None, None, None),  # a voided order says why
        ("RELEASED", None, "1.00", None),  # only a voided one may lack its currency
        ("FAILED", "EUR", None, None),  # a failed one says why too
        ("RESERVED", "EUR", "1.00", "why"),  # one that holds stock has no failure
    ],
)
def test_the_schema_refuses_broken_reservations(
    engine: Engine, status: str, currency: str | None, total: str | None, reason: str | None
) -> None:
    order_id = str(uuid.uuid4())
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO reservations (order_id, customer_id, status, currency, total,"
                " failure_reason) VALUES (:o, 'c', :s, :c, CAST(:t AS numeric), :r)"
            ),
            {"o": order_id, "s": status, "c": currency, "t": total, "r": reason},
        )
    assert reservation(engine, order_id) is None


# -- concurrency -----------------------------------------------------------------------------


def run_concurrently(tasks: list[Callable[[], None]]) -> list[BaseException]:
    """Start every task at the same moment, each in its own thread; return what they raised."""
    barrier = threading.Barrier(len(tasks))
    errors: list[BaseException] = []

    def run(task: Callable[[], None]) -> None:
        barrier.wait()
        try:
            task()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(task,)) for task in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "a handler hung (deadlock?)"
    return errors


class AvailableWatcher:
    """Samples a product's available stock until stopped; remembers the smallest value seen."""

    def __init__(self, engine: Engine, product_ids: list[str]) -> None:
        self.engine = engine
        self.product_ids = product_ids
        self.lowest: int | None = None
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch)

    def _watch(self) -> None:
        with self.engine.connect() as conn:
            while not self._stop.is_set():
                lowest = conn.execute(
                    text(
                        "SELECT min(stock_available) FROM products"
                        " WHERE product_id = ANY(CAST(:p AS uuid[]))"
                    ),
                    {"p": self.product_ids},
                ).scalar_one()
                conn.rollback()
                self.samples += 1
                self.lowest = lowest if self.lowest is None else min(self.lowest, lowest)

    def __enter__(self) -> AvailableWatcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)


def test_fifty_concurrent_orders_for_ten_units(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    a = add_product(sessions, 10)
    orders = [order_created([(a, 1)]) for _ in range(50)]

    with AvailableWatcher(engine, [a]) as watcher:
        errors = run_concurrently([lambda o=o: apply(sessions, o) for o in orders])

    assert errors == []
    assert watcher.samples > 0 and watcher.lowest is not None and watcher.lowest >= 0
    assert stock(engine, a) == {
        "initial": 10,
        "adjusted": 0,
        "available": 0,
        "reserved": 10,
        "sold": 0,
    }
    outcome = [e["event_type"] for e in events(engine)]
    assert len(outcome) == 50
    assert outcome.count("stock.reserved") == 10
    assert outcome.count("stock.reservation_failed") == 40
    assert {e["aggregate_id"] for e in events(engine)} == {o.payload["order_id"] for o in orders}
    for failed in (e for e in events(engine) if e["event_type"] == "stock.reservation_failed"):
        assert failed["payload"]["reason"] == (
            f"insufficient stock for product {a}: requested 1, available 0"
        )
    assert_conserved(engine)


def test_orders_locking_products_in_opposite_orders_never_deadlock(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    a = add_product(sessions, 1000)
    b = add_product(sessions, 1000)
    orders = [order_created([(a, 2), (b, 3)] if i % 2 else [(b, 3), (a, 2)]) for i in range(40)]

    def lifecycle(index: int, created: Envelope) -> None:
        apply(sessions, created)
        order_id = created.payload["order_id"]
        if index % 4 < 2:  # half the orders are confirmed, half cancelled, both line orders
            apply(sessions, order_confirmed(order_id))
        else:
            apply(sessions, order_cancelled(order_id))

    with AvailableWatcher(engine, [a, b]) as watcher:
        errors = run_concurrently([lambda i=i, o=o: lifecycle(i, o) for i, o in enumerate(orders)])

    assert errors == [], errors[:3]
    assert watcher.lowest is not None and watcher.lowest >= 0
    assert stock(engine, a) == {
        "initial": 1000,
        "adjusted": 0,
        "available": 960,
        "reserved": 0,
        "sold": 40,
    }
    assert stock(engine, b) == {
        "initial": 1000,
        "adjusted": 0,
        "available": 940,
        "reserved": 0,
        "sold": 60,
    }
    kinds = [e["event_type"] for e in events(engine)]
    assert kinds.count("stock.reserved") == 40
    assert kinds.count("stock.committed") == 20 and kinds.count("stock.released") == 20
    assert_conserved(engine)


def test_concurrent_settlements_of_one_order_apply_once(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    a = add_product(sessions, 10)
    created = order_created([(a, 5)])
    order_id = created.payload["order_id"]
    apply(sessions, created)

    errors = run_concurrently([lambda: apply(sessions, order_cancelled(order_id))] * 10)

    assert errors == []
    assert stock(engine, a)["available"] == 10
    assert [e["event_type"] for e in events(engine, order_id)] == [
        "stock.reserved",
        "stock.released",
    ]
    assert_conserved(engine)


# -- through Kafka and the inbox consumer ----------------------------------------------------


def test_the_subscriptions_over_kafka_apply_a_redelivered_order_once(
    engine: Engine, sessions: sessionmaker[Session], aggregate_type: str
) -> None:
    """The handler table of consumers.py behind a real InboxConsumer, on a private topic and
    group (never the real ``order.events`` / ``product-service``)."""
    topic = f"{aggregate_type}.events"
    ensure_topics(KafkaSettings(), [topic, f"{topic}.dlq"])
    a = add_product(sessions, 5)
    created = order_created([(a, 2)])
    order_id = created.payload["order_id"]
    consumer = InboxConsumer(
        name=f"product-service-test-{uuid.uuid4().hex[:8]}",
        topics=[topic],
        handlers=SUBSCRIPTIONS.handlers(),
        session_factory=sessions,
        kafka=KafkaSettings(),
    )
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,))
    thread.start()
    try:
        producer = Producer({"bootstrap.servers": layout.KAFKA_BOOTSTRAP})
        for message in (created, created, order_cancelled(order_id)):
            producer.produce(topic, key=order_id, value=message.to_json())
        assert producer.flush(30) == 0

        wait_for(
            lambda: len(events(engine, order_id)) == 2,
            timeout=60,
            what="stock.reserved and stock.released in the outbox",
        )
    finally:
        stop.set()
        thread.join(30)

    assert [e["event_type"] for e in events(engine, order_id)] == [
        "stock.reserved",
        "stock.released",
    ]
    assert stock(engine, a)["available"] == 5
    with engine.connect() as conn:
        applied = conn.execute(text("SELECT count(*) FROM inbox")).scalar_one()
    assert applied == 2  # the duplicate order.created was skipped by the inbox
    assert_conserved(engine)
