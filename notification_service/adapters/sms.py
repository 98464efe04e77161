"""The SMS transport: an SMS provider's HTTP API (here the SMS sink), one keep-alive connection.

``POST {base_url}/messages`` with ``{to, body}``, the API key as a bearer token and the
notification id as ``Idempotency-Key``: a resend after a crash between the provider's answer and
our record carries the same key, and the provider answers it with the message it already took
(200) instead of sending it twice. 2xx is accepted; a 4xx other than 401/403/408/429 refuses this
one message; anything else (no connection, a timeout, 5xx, throttling, a rejected key) makes the
channel unavailable for the pass.
"""

from __future__ import annotations

import httpx

from notification_service.application.ports import ChannelUnavailable, MessageRefused
from notification_service.domain.model import Mail

# The provider itself cannot take messages now (or not from us): retry later, all of them.
_CHANNEL_STATUSES = {401, 403, 408, 429}


class SmsSender:
    """The SMS channel's transport; connects on the first send and keeps the connection."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout: float,
        transport: httpx.BaseTransport | None = None,  # tests hand in a fake
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self._transport = transport
        self._client: httpx.Client | None = None

    def send(self, *, recipient: str, message: Mail, message_id: str) -> None:
        """Deliver one SMS (see Transport.send); ``message_id`` is its idempotency key."""
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.base_url,
                timeout=self.timeout,
                headers={"Authorization": f"Bearer {self.api_key}"},
                transport=self._transport,
            )
        try:
            response = self._client.post(
                "/messages",
                json={"to": recipient, "body": message.body},
                headers={"Idempotency-Key": message_id},
            )
        except httpx.HTTPError as exc:
            self.close()
            raise ChannelUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if response.is_success:
            return
        # Status and reason only: a provider's error body may echo the number or the text, and
        # the error is logged and kept with the notification.
        error = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
        if response.status_code in _CHANNEL_STATUSES or response.status_code >= 500:
            raise ChannelUnavailable(error)
        raise MessageRefused(error)

    def close(self) -> None:
        """Drop the connection, if any."""
        client, self._client = self._client, None
        if client is not None:
            client.close()
