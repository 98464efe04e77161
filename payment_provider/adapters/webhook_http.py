"""Sending one webhook attempt over HTTP (httpx), bounded in time and in what is read back."""

from __future__ import annotations

from collections.abc import Mapping

import httpx


class HttpWebhookTransport:
    """POSTs webhook bodies; one per delivery thread (it keeps its connections alive)."""

    def __init__(self, *, timeout: float) -> None:
        # No redirects: a receiver answering 3xx has not taken the webhook.
        self._client = httpx.Client(timeout=timeout, follow_redirects=False)

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """The receiver's status code; raises httpx.HTTPError when there is none."""
        # Streamed and closed unread: only the status matters, and a receiver cannot make us
        # hold a large response in memory.
        with self._client.stream("POST", url, content=body, headers=dict(headers)) as response:
            return response.status_code

    def close(self) -> None:
        """Close the kept-alive connections."""
        self._client.close()
