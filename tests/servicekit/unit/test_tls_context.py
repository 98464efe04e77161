"""Clients that call other instances share the process's one TLS context.

An httpx client made without one loads the CA bundle (about 29 ms of CPU here): made per call,
an order naming a product the read model has not seen cost order_service ~31 ms of CPU, enough
for a client sending random product ids to keep a core busy at ~30 requests/s.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pytest

from ops_service.adapters.inbox_api import InboxApi
from ops_service.adapters.order_api import OrderApi
from ops_service.application.ports import DependencyUnavailable
from order_service.adapters.catalog import CatalogUnavailable, fetch_products
from servicekit.discovery import ServiceInstance

NOWHERE = ServiceInstance("nowhere", "http://127.0.0.1:1")  # refused at once


class _Registry:
    def round_robin(self, app: str) -> list[ServiceInstance]:
        return [NOWHERE]


@pytest.fixture
def contexts_made(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    made: list[Any] = []
    real = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counting)
    return made


def test_product_lookups_build_no_tls_context_each(contexts_made: list[Any]) -> None:
    for _ in range(3):
        with pytest.raises(CatalogUnavailable):
            fetch_products(_Registry(), ["p-1"], timeout=2.0)
    assert len(contexts_made) <= 1  # the shared one, if nothing made it before


def test_ops_lookups_build_no_tls_context_each(contexts_made: list[Any]) -> None:
    inboxes = InboxApi(_Registry(), services=["ORDER-SERVICE"], timeout=2.0)
    orders = OrderApi(_Registry(), timeout=2.0)

    async def ask() -> None:
        for _ in range(3):
            await inboxes.entries(["e-1"], token="t")
            with pytest.raises(DependencyUnavailable):
                await orders.get("o-1", token="t")

    asyncio.run(ask())
    assert len(contexts_made) <= 1
