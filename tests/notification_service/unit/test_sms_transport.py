"""The SMS transport against a fake provider (httpx.MockTransport): what it sends, and how each
answer maps to sent, refused (this message) or unavailable (the channel)."""

from __future__ import annotations

import json

import httpx
import pytest

from notification_service.adapters.sms import SmsSender
from notification_service.application.ports import ChannelUnavailable, MessageRefused
from notification_service.domain.model import Mail

MESSAGE = Mail("Your order 1 is confirmed", "Order Platform: your order 1 is confirmed.")


def sender(handler: httpx.MockTransport) -> SmsSender:
    return SmsSender(base_url="http://sms.test/", api_key="k3y", timeout=1.0, transport=handler)


def test_a_message_carries_the_key_the_number_the_text_and_its_idempotency_key() -> None:
    seen: list[httpx.Request] = []

    def provider(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201 if len(seen) == 1 else 200, json={"message_id": "m1"})

    sms = sender(httpx.MockTransport(provider))
    sms.send(recipient="+5511987654321", message=MESSAGE, message_id="n-1")
    sms.send(recipient="+5511987654321", message=MESSAGE, message_id="n-1")  # a resend: 200
    sms.close()
    first = seen[0]
    assert (first.method, str(first.url)) == ("POST", "http://sms.test/messages")
    assert first.headers["Authorization"] == "Bearer k3y"
    assert [r.headers["Idempotency-Key"] for r in seen] == ["n-1", "n-1"]
    assert json.loads(first.content) == {"to": "+5511987654321", "body": MESSAGE.body}


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (422, MessageRefused),
        (400, MessageRefused),
        (401, ChannelUnavailable),
        (429, ChannelUnavailable),
        (500, ChannelUnavailable),
        (503, ChannelUnavailable),
    ],
)
def test_each_answer_is_sent_refused_or_unavailable(
    status: int, error: type[MessageRefused | ChannelUnavailable]
) -> None:
    sms = sender(httpx.MockTransport(lambda _: httpx.Response(status, text="+5511987654321")))
    with pytest.raises(error, match=f"^HTTP {status} ") as raised:
        sms.send(recipient="+5511987654321", message=MESSAGE, message_id="n-1")
    assert "+55" not in str(raised.value)  # a body echoing the number is not kept


def test_no_connection_makes_the_channel_unavailable() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    sms = sender(httpx.MockTransport(down))
    with pytest.raises(ChannelUnavailable, match="ConnectError"):
        sms.send(recipient="+5511987654321", message=MESSAGE, message_id="n-1")
