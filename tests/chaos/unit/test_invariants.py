"""The invariants on states made up by hand: each passes on a sound state and names what breaks
it on a broken one."""

from __future__ import annotations

from collections import Counter
from typing import Any

from chaos import invariants
from chaos.invariants import Scope, Snapshot

CUSTOMER = "11111111-1111-1111-1111-111111111111"
PRODUCT = "22222222-2222-2222-2222-222222222222"
CONFIRMED = "33333333-3333-3333-3333-333333333333"
CANCELLED = "44444444-4444-4444-4444-444444444444"


def _note(number: int, kind: str, order_id: str | None) -> dict[str, Any]:
    subject = f"Your order {order_id} ..." if order_id else "Welcome to Order Platform"
    return {
        "notification_id": f"n{number}",
        "user_id": CUSTOMER,
        "kind": kind,
        "channel": "email",
        "status": "SENT",
        "recipient": "c@example.com",
        "subject": subject,
        "body": "...",
    }


def sound() -> tuple[Scope, Snapshot]:
    """One confirmed order of 2 units and one cancelled after its payment was refunded."""
    scope = Scope(
        customer_ids=[CUSTOMER],
        channels={CUSTOMER: ("email",)},
        product_ids=[PRODUCT],
        keys={"k1", "k2"},
        accepted={"k1": {CONFIRMED}, "k2": {CANCELLED}},
        since=0.0,
    )
    order = {"customer_id": CUSTOMER, "failure_reason": None}
    stock = {"initial": 10, "adjusted": 0, "available": 8, "reserved": 0, "sold": 2}
    state = Snapshot(
        orders={
            CONFIRMED: {**order, "order_id": CONFIRMED, "status": "CONFIRMED",
                        "idempotency_key": "k1"},
            CANCELLED: {**order, "order_id": CANCELLED, "status": "CANCELLED",
                        "idempotency_key": "k2"},
        },
        items=[(CONFIRMED, PRODUCT, 2), (CANCELLED, PRODUCT, 1)],
        products={PRODUCT: stock},
        payments={CONFIRMED: "AUTHORIZED", CANCELLED: "REFUNDED"},
        notifications=[
            _note(0, "welcome", None),
            _note(1, "order_placed", CONFIRMED),
            _note(2, "order_confirmed", CONFIRMED),
            _note(3, "order_placed", CANCELLED),
            _note(4, "order_cancelled", CANCELLED),
        ],
        payment_events=[
            (CONFIRMED, "payment.authorized", "e1"),
            (CANCELLED, "payment.authorized", "e2"),
            (CANCELLED, "payment.refunded", "e3"),
        ],
        dead_letter_topics=["order.events.dlq"],
        dead_letters=[],
        unpublished={"order_service": 0},
        mail_ids=Counter({"n0": 1, "n1": 1, "n2": 1, "n3": 1, "n4": 2}),  # a resend: the same id
        sms=[],
    )  # fmt: skip
    return scope, state


def violated(scope: Scope, state: Snapshot) -> dict[str, list[str]]:
    """Every broken invariant with its violations."""
    return {c.name: c.violations for c in invariants.check_all(scope, state) if not c.ok}


def test_a_sound_state_breaks_nothing() -> None:
    assert violated(*sound()) == {}


def test_an_order_still_open_is_named() -> None:
    scope, state = sound()
    state.orders[CONFIRMED]["status"] = "STOCK_RESERVED"
    assert (
        f"order {CONFIRMED} is still STOCK_RESERVED"
        in violated(scope, state)["every accepted order terminal"]
    )


def test_two_orders_for_one_key_are_named() -> None:
    scope, state = sound()
    state.orders[CANCELLED]["idempotency_key"] = "k1"
    assert "one order per Idempotency-Key" in violated(scope, state)


def test_units_left_reserved_or_sold_without_a_confirmation_are_named() -> None:
    scope, state = sound()
    state.products[PRODUCT].update(available=7, reserved=1)
    found = violated(scope, state)
    assert found["stock conserved"] == [f"product {PRODUCT}: 1 units still reserved"]
    state.products[PRODUCT].update(available=7, reserved=0, sold=3)
    assert violated(scope, state)["sold = confirmed quantities"] == [
        f"product {PRODUCT}: 3 sold, 2 confirmed"
    ]


def test_money_kept_for_a_cancelled_order_is_named() -> None:
    scope, state = sound()
    state.payments[CANCELLED] = "AUTHORIZED"
    state.payment_events.remove((CANCELLED, "payment.refunded", "e3"))
    assert len(violated(scope, state)["no net charge on a cancelled/rejected order"]) == 2


def test_a_second_authorization_under_another_event_id_is_named() -> None:
    scope, state = sound()
    state.payment_events.append((CONFIRMED, "payment.authorized", "e9"))
    assert violated(scope, state)["one authorization per confirmed order"] == [
        f"order {CONFIRMED}: 2 payment.authorized events"
    ]
    # The same event delivered twice is one authorization.
    scope, state = sound()
    state.payment_events.append((CONFIRMED, "payment.authorized", "e1"))
    assert violated(scope, state) == {}


def test_a_notification_twice_or_never_and_a_mail_missing_are_named() -> None:
    scope, state = sound()
    state.notifications.append(_note(5, "order_confirmed", CONFIRMED))
    state.notifications.remove(next(n for n in state.notifications if n["notification_id"] == "n3"))
    found = violated(scope, state)
    assert found["one notification per (event, channel)"] == [
        f"order {CONFIRMED}: 2 order_confirmed on email",
        f"order {CANCELLED}: 0 order_placed on email",
    ]
    assert found["one mail/SMS per notification"] == ["notification n5 SENT, no mail with its id"]


def test_each_channel_of_the_customer_is_told_and_an_sms_is_found_by_its_text() -> None:
    scope, state = sound()
    scope.channels[CUSTOMER] = ("email", "sms")
    sms = {**_note(6, "order_placed", CONFIRMED), "channel": "sms", "recipient": "+5511900000000"}
    state.notifications.append(sms)
    found = violated(scope, state)
    assert found["one notification per (event, channel)"] == [
        f"order {CONFIRMED}: 0 order_confirmed on sms",
        f"order {CANCELLED}: 0 order_placed on sms",
        f"order {CANCELLED}: 0 order_cancelled on sms",
    ]
    assert found["one mail/SMS per notification"] == ["notification n6: 0 SMS"]
    state.sms.append({"to": "+5511900000000", "body": "..."})
    assert "one mail/SMS per notification" not in violated(scope, state)


def test_dead_letters_and_unpublished_rows_are_named() -> None:
    scope, state = sound()
    state.dead_letters.append("order.events.dlq:0:5")
    state.unpublished["order_service"] = 3
    found = violated(scope, state)
    assert found["nothing in the DLQs"] == ["dead letter order.events.dlq:0:5"]
    assert found["outboxes drained"] == ["order_service: 3 outbox rows not published"]
