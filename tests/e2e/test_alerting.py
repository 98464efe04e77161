"""Alerts reach a person: Alertmanager (started by `make up`) mails a firing alert to the local
mail sink, where it lands in the Maildir var/mail."""

from __future__ import annotations

import mailbox
import uuid
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from email.message import Message

import httpx
import pytest

from devstack import alertmanager, layout
from tests.support import wait_for

pytestmark = pytest.mark.e2e

OPERATORS = "operators@order-platform.local"


def post_alert(labels: dict[str, str], annotations: dict[str, str], lasts: timedelta) -> None:
    """Fire one alert through Alertmanager's API, as Prometheus does."""
    now = datetime.now(UTC)
    alert = {
        "labels": labels,
        "annotations": annotations,
        "startsAt": now.isoformat(),
        "endsAt": (now + lasts).isoformat(),
    }
    response = httpx.post(f"{alertmanager.URL}/api/v2/alerts", json=[alert], timeout=5)
    assert response.status_code == 200, response.text


def text_of(message: Message) -> str:
    """Subject and every decoded text part of a mail."""
    parts = [str(make_header(decode_header(message.get("Subject", ""))))]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                parts.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(parts)


def mails_mentioning(needle: str) -> list[Message]:
    """Mails in the mail sink's Maildir (new and read) whose text contains ``needle``."""
    box = mailbox.Maildir(layout.MAIL_DIR, create=False)
    return [message for message in box if needle in text_of(message)]


@pytest.fixture(scope="module")
def running_alertmanager() -> None:
    """The Alertmanager `make up` starts."""
    if not alertmanager.is_ready():
        pytest.fail(f"Alertmanager does not answer at {alertmanager.URL}: run `make up`")


def test_a_firing_alert_is_mailed_to_the_operators(running_alertmanager: None) -> None:
    run = uuid.uuid4().hex[:12]
    # A name of its own: a new alert group, mailed after group_wait (10 s), not group_interval.
    name = f"E2eDelivery{run}"
    post_alert(
        {"alertname": name, "severity": "warning", "test_run": run},
        {"summary": f"Delivery test {run}", "description": "Sent by tests/e2e/test_alerting.py"},
        lasts=timedelta(minutes=2),
    )

    mails = wait_for(
        lambda: mails_mentioning(run), timeout=90, interval=1, what=f"the mail of alert {name}"
    )
    mail = mails[0]
    assert mail["To"] == OPERATORS
    subject = str(make_header(decode_header(mail["Subject"])))
    assert "FIRING" in subject
    assert name in subject
    assert f"Delivery test {run}" in text_of(mail)


def watchdog_started_at() -> datetime | None:
    """When the Watchdog alert Prometheus keeps firing started, as Alertmanager has it."""
    response = httpx.get(
        f"{alertmanager.URL}/api/v2/alerts", params={"filter": 'alertname="Watchdog"'}, timeout=5
    )
    response.raise_for_status()
    alerts = response.json()
    return min((datetime.fromisoformat(a["startsAt"]) for a in alerts), default=None)


def test_the_watchdog_reaches_alertmanager_and_is_never_mailed(running_alertmanager: None) -> None:
    # The Watchdog alert always fires (it shows Prometheus reaches Alertmanager) and is routed
    # to nobody: mailed, it would arrive every few hours forever. Its group's first mail would
    # have gone out group_wait (10 s) after it arrived, so once it is older than that, no mail
    # of it means the route holds.
    def old_enough() -> bool:
        started = watchdog_started_at()
        return started is not None and datetime.now(UTC) - started > timedelta(seconds=30)

    wait_for(old_enough, timeout=150, interval=2, what="the Watchdog alert in Alertmanager")
    assert not [m for m in mails_mentioning("Watchdog") if "Watchdog" in m.get("Subject", "")]
