"""notification_service against the real PostgreSQL and a real SMTP server (aiosmtpd, started in
the test): one notification per event, delivery by the sender loop, retries without loss while
the server is down, and mail that waits for a contact not known yet."""

from __future__ import annotations

import dataclasses
import functools
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from aiosmtpd.smtp import Session as SmtpSession
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from notification_service.adapters.repository import SqlNotificationUnitOfWork, on_mail_queued
from notification_service.adapters.smtp import SmtpMailer
from notification_service.adapters.tables import notifications
from notification_service.api.routes import router
from notification_service.application.sender import NotificationSender, SenderPolicy
from notification_service.consumers import SUBSCRIPTIONS
from notification_service.domain.delivery import RetryPolicy
from servicekit.dependencies import get_principal, get_session
from servicekit.http import install_error_handlers
from servicekit.messaging.envelope import Envelope
from servicekit.messaging.unit_of_work import transaction
from servicekit.tokens import Principal
from tests.support import free_port, scratch_sessions, wait_for

pytestmark = pytest.mark.integration

# As the inbox consumer runs them: parsed, in a unit of work joined to its transaction.
HANDLERS = SUBSCRIPTIONS.handlers()
RETRY_FIELDS = {f.name for f in dataclasses.fields(RetryPolicy)}


@pytest.fixture
def sessions(engines: None) -> Iterator[sessionmaker[Session]]:
    with scratch_sessions("notif", migrations="notification_service") as sessions:
        yield sessions


class Recorder:
    """aiosmtpd handler that keeps every message it accepted."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: SmtpSession, envelope: SmtpEnvelope) -> str:
        content = envelope.original_content or b""
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"


class SmtpSink:
    """A real SMTP server on a fixed free port that the test can stop and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.recorder = Recorder()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


def sender_for(
    sessions: sessionmaker[Session], smtp: SmtpSink, **policy: Any
) -> NotificationSender:
    settings = {"retry_initial": 0.2, "retry_max": 1.0, "contact_retry": 0.2, **policy}
    retry = RetryPolicy(**{k: v for k, v in settings.items() if k in RETRY_FIELDS})
    return NotificationSender(
        functools.partial(transaction, sessions, SqlNotificationUnitOfWork),
        lambda: SmtpMailer(
            host="127.0.0.1",
            port=smtp.port,
            timeout=5,
            mail_from="Order Platform <no-reply@order-platform.local>",
        ),
        SenderPolicy(retry=retry, **{k: v for k, v in settings.items() if k not in RETRY_FIELDS}),
    )


def registered(user_id: str, email: str, full_name: str = "Ada Lovelace") -> Envelope:
    return Envelope(
        event_type="account.registered",
        aggregate_type="account",
        aggregate_id=user_id,
        payload={
            "user_id": user_id,
            "email": email,
            "full_name": full_name,
            "roles": ["customer"],
            "registered_at": datetime.now(UTC).isoformat(),
        },
    )


def order_event(event_type: str, order_id: str, customer_id: str) -> Envelope:
    payload: dict[str, Any] = {"order_id": order_id, "customer_id": customer_id}
    if event_type == "order.confirmed":
        payload |= {
            "items": [{"product_id": str(uuid.uuid4()), "quantity": 2, "unit_price": "10.00"}],
            "total": "20.00",
            "currency": "EUR",
        }
    else:
        payload["reason"] = "payment declined"
    return Envelope(
        event_type=event_type, aggregate_type="order", aggregate_id=order_id, payload=payload
    )


def deliver(sessions: sessionmaker[Session], envelope: Envelope) -> None:
    """As InboxConsumer runs a handler: in a transaction the handler never commits."""
    with sessions() as session, session.begin():
        HANDLERS[envelope.event_type](session, envelope)


def rows(sessions: sessionmaker[Session], user_id: str, channel: str = "email") -> list[Any]:
    """The user's notifications on ``channel``, oldest first."""
    with sessions() as session:
        return list(
            session.execute(
                select(notifications, (notifications.c.next_attempt_at > func.now()).label("later"))
                .where(notifications.c.user_id == user_id, notifications.c.channel == channel)
                .order_by(notifications.c.created_at)
            )
        )


def one(sessions: sessionmaker[Session], user_id: str) -> Any:
    [row] = rows(sessions, user_id)
    return row


def new_user() -> tuple[str, str]:
    user_id = str(uuid.uuid4())
    return user_id, f"user-{user_id[:8]}@example.com"


def test_one_notification_per_event_even_when_delivered_twice(
    sessions: sessionmaker[Session],
) -> None:
    user_id, email = new_user()
    welcome = registered(user_id, email)
    deliver(sessions, welcome)
    deliver(sessions, welcome)
    events = [
        order_event(t, str(uuid.uuid4()), user_id)
        for t in ("order.confirmed", "order.cancelled", "order.rejected")
    ]
    for event in events:
        deliver(sessions, event)
        deliver(sessions, event)

    found = rows(sessions, user_id)
    assert [r.kind for r in found] == [
        "welcome",
        "order_confirmed",
        "order_cancelled",
        "order_rejected",
    ]
    assert {str(r.event_id) for r in found} == {str(welcome.event_id)} | {
        str(e.event_id) for e in events
    }
    assert all(
        (r.status, r.channel, r.recipient, r.attempts) == ("PENDING", "email", email, 0)
        for r in found
    )
    confirmed = found[1]
    order_id = events[0].payload["order_id"]
    assert order_id in confirmed.subject
    assert order_id in confirmed.body and "CONFIRMED" in confirmed.body
    assert "20.00 EUR" in confirmed.body
    assert "payment declined" in found[2].body and "CANCELLED" in found[2].body
    assert "REJECTED" in found[3].body


def test_concurrent_duplicate_deliveries_make_one_notification(
    sessions: sessionmaker[Session],
) -> None:
    """Two consumer instances handed the same event: the unique event_id keeps one."""
    user_id, email = new_user()
    welcome = registered(user_id, email)
    barrier = threading.Barrier(4)

    def race(_: int) -> None:
        barrier.wait()
        deliver(sessions, welcome)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(race, range(4)))
    assert len(rows(sessions, user_id)) == 1


def test_sender_delivers_over_smtp(sessions: sessionmaker[Session], smtp: SmtpSink) -> None:
    user_id, email = new_user()
    deliver(sessions, registered(user_id, email))
    order_id = str(uuid.uuid4())
    deliver(sessions, order_event("order.confirmed", order_id, user_id))

    assert sender_for(sessions, smtp).send_due() == 2

    assert [r.status for r in rows(sessions, user_id)] == ["SENT", "SENT"]
    assert all(r.sent_at is not None and r.attempts == 1 for r in rows(sessions, user_id))
    by_subject = {m["Subject"]: (to, m) for to, m in smtp.recorder.messages}
    assert set(by_subject) == {"Welcome to Order Platform", f"Your order {order_id} is confirmed"}
    to, message = by_subject[f"Your order {order_id} is confirmed"]
    assert to == [email]
    assert message["To"] == email
    assert message["From"] == "Order Platform <no-reply@order-platform.local>"
    assert message["Message-ID"].endswith("@order-platform.local>")
    assert message.get_content_type() == "text/plain"
    body = message.get_content()
    assert order_id in body and "CONFIRMED" in body
    # Nothing is left to send: a second pass finds nothing.
    assert sender_for(sessions, smtp).send_due() == 0
    assert len(smtp.recorder.messages) == 2


def test_smtp_down_retries_with_backoff_and_loses_nothing(
    sessions: sessionmaker[Session], smtp: SmtpSink
) -> None:
    user_id, email = new_user()
    deliver(sessions, registered(user_id, email))
    sender = sender_for(sessions, smtp, retry_initial=1.0)
    smtp.stop()

    assert sender.send_due() == 1
    row = one(sessions, user_id)
    assert (row.status, row.attempts) == ("PENDING", 1)
    assert row.last_error
    assert row.later, "next_attempt_at must be in the future"
    assert sender.send_due() == 0  # not due again before its backoff

    smtp.start()
    wait_for(
        lambda: sender.send_due() and one(sessions, user_id).status == "SENT",
        timeout=10,
        what="the retried notification to be sent",
    )
    row = one(sessions, user_id)
    assert (row.status, row.attempts, row.last_error) == ("SENT", 2, None)
    [(to, message)] = smtp.recorder.messages
    assert to == [email]
    assert message["Subject"] == "Welcome to Order Platform"


def test_gives_up_after_max_attempts(sessions: sessionmaker[Session], smtp: SmtpSink) -> None:
    user_id, email = new_user()
    deliver(sessions, registered(user_id, email))
    sender = sender_for(sessions, smtp, max_attempts=2, retry_initial=0.05)
    smtp.stop()
    assert sender.send_due() == 1
    wait_for(sender.send_due, timeout=10, what="the second attempt")
    row = one(sessions, user_id)
    assert (row.status, row.attempts) == ("FAILED", 2)
    assert sender.send_due() == 0


def test_unknown_contact_stays_pending_until_registered(
    sessions: sessionmaker[Session], smtp: SmtpSink
) -> None:
    user_id, email = new_user()
    order_id = str(uuid.uuid4())
    deliver(sessions, order_event("order.cancelled", order_id, user_id))
    sender = sender_for(sessions, smtp, contact_retry=60)

    assert sender.send_due() == 1
    row = one(sessions, user_id)
    assert (row.status, row.recipient, row.attempts) == ("PENDING", None, 0)
    assert row.later
    assert "account.registered" in row.last_error
    assert smtp.recorder.messages == []

    # The registration arrives (other topic): the waiting mail is due at once.
    deliver(sessions, registered(user_id, email))
    assert sender.send_due() == 2
    assert [r.status for r in rows(sessions, user_id)] == ["SENT", "SENT"]
    assert sorted(m["Subject"] for _, m in smtp.recorder.messages) == [
        "Welcome to Order Platform",
        f"Your order {order_id} was cancelled",
    ]
    assert all(to == [email] for to, _ in smtp.recorder.messages)


def test_two_senders_never_send_the_same_mail(
    sessions: sessionmaker[Session], smtp: SmtpSink
) -> None:
    users = [new_user() for _ in range(20)]
    for user_id, email in users:
        deliver(sessions, registered(user_id, email))
    senders = [sender_for(sessions, smtp, batch_size=5) for _ in range(3)]
    barrier = threading.Barrier(len(senders))

    def drain(sender: NotificationSender) -> int:
        barrier.wait()
        total = 0
        while handled := sender.send_due():
            total += handled
        return total

    with ThreadPoolExecutor(len(senders)) as pool:
        assert sum(pool.map(drain, senders)) == len(users)
    recipients = [to[0] for to, _ in smtp.recorder.messages]
    assert sorted(recipients) == sorted(email for _, email in users)


def test_api_lists_the_callers_notifications_newest_first(
    sessions: sessionmaker[Session],
) -> None:
    user_id, email = new_user()
    other_id, other_email = new_user()
    deliver(sessions, registered(user_id, email))
    deliver(sessions, registered(other_id, other_email))
    deliver(sessions, order_event("order.rejected", str(uuid.uuid4()), user_id))
    with sessions() as session, session.begin():
        # Make the order older than the welcome, so "newest first" is visible.
        session.execute(
            update(notifications)
            .where(notifications.c.kind == "welcome", notifications.c.user_id == user_id)
            .values(created_at=datetime(2020, 1, 1, tzinfo=UTC))
        )

    response = list_as(sessions, user_id)
    assert response.status_code == 200
    body = response.json()
    assert [n["kind"] for n in body] == ["order_rejected", "welcome"]
    assert set(body[0]) >= {"notification_id", "kind", "channel", "subject", "status", "created_at"}
    assert all(n["channel"] == "email" and n["status"] == "PENDING" for n in body)


def test_api_shows_a_guests_notifications_in_the_app_and_never_the_skipped_ones(
    sessions: sessionmaker[Session],
) -> None:
    user_id, _ = new_user()
    order_id = str(uuid.uuid4())
    # The order event before the guest is known: recorded on email and SMS, then settled.
    deliver(sessions, order_event("order.cancelled", order_id, user_id))
    deliver(
        sessions,
        Envelope(
            event_type="account.guest_registered",
            aggregate_type="account",
            aggregate_id=user_id,
            payload={
                "user_id": user_id,
                "roles": ["guest"],
                "registered_at": datetime.now(UTC).isoformat(),
            },
        ),
    )
    assert [(r.channel, r.status) for r in rows(sessions, user_id, "sms")] == [("sms", "SKIPPED")]
    response = list_as(sessions, user_id)
    assert response.status_code == 200
    (listed,) = response.json()
    assert (listed["kind"], listed["channel"], listed["status"]) == (
        "order_cancelled",
        "in_app",
        "SENT",
    )
    assert listed["sent_at"] is not None and order_id in listed["subject"]


def list_as(sessions: sessionmaker[Session], user_id: str) -> Any:
    """GET /api/notifications as ``user_id``, on the service's router."""
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)

    def session_dep() -> Iterator[Session]:
        with sessions() as s:
            yield s

    app.dependency_overrides[get_principal] = lambda: Principal(user_id, frozenset({"customer"}))
    app.dependency_overrides[get_session] = session_dep
    return TestClient(app).get("/api/notifications")


def test_sender_loop_wakes_on_commit_and_stops_promptly(
    sessions: sessionmaker[Session], smtp: SmtpSink
) -> None:
    """The loop does not wait for a poll: a commit that queues mail wakes it (as main.py wires)."""
    sender = sender_for(sessions, smtp, poll_interval=60, idle_poll=60)
    on_mail_queued(sessions, lambda _channels: sender.wake())
    stop = threading.Event()
    loop = threading.Thread(target=sender.run, args=(stop,))
    loop.start()
    try:
        for _ in range(2):  # the first mail after a lull, then one within the batch window
            user_id, email = new_user()
            deliver(sessions, registered(user_id, email))
            wait_for(
                lambda user_id=user_id: one(sessions, user_id).status == "SENT",
                timeout=5,
                what="the woken sender to send the welcome mail",
            )
    finally:
        stop.set()
        loop.join(timeout=5)
    assert not loop.is_alive(), "the sender must stop without waiting for its poll"
    assert len(smtp.recorder.messages) == 2


def test_sender_loop_comes_back_when_a_retry_is_due(
    sessions: sessionmaker[Session], smtp: SmtpSink
) -> None:
    """A refused message is retried after its backoff, not after the (here very long) polls."""
    refused: list[str] = []
    accept = smtp.recorder.handle_DATA

    async def refuse_once(server: Any, session: SmtpSession, envelope: SmtpEnvelope) -> str:
        if not refused:
            refused.append(envelope.rcpt_tos[0])
            return "550 refused once"
        return await accept(server, session, envelope)

    smtp.recorder.handle_DATA = refuse_once  # type: ignore[method-assign]
    sender = sender_for(sessions, smtp, poll_interval=60, idle_poll=60, retry_initial=0.3)
    on_mail_queued(sessions, lambda _channels: sender.wake())
    user_id, email = new_user()
    stop = threading.Event()
    loop = threading.Thread(target=sender.run, args=(stop,))
    loop.start()
    try:
        deliver(sessions, registered(user_id, email))
        wait_for(
            lambda: one(sessions, user_id).status == "SENT",
            timeout=10,
            what="the refused mail to be retried",
        )
    finally:
        stop.set()
        loop.join(timeout=5)
    row = one(sessions, user_id)
    assert (row.attempts, row.last_error) == (2, None)
    assert refused == [email]
    assert [to for to, _ in smtp.recorder.messages] == [[email]]
