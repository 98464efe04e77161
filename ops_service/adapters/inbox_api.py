"""The Inboxes port: each service asked for its own inbox rows (GET /ops/inbox, served by every
service app: servicekit.ops), on an instance found in Eureka, with the caller's admin token."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx
from pydantic import ValidationError

from ops_service.application.ports import InboxAnswer, InboxEntry, InboxSource
from servicekit.context import current
from servicekit.discovery import EurekaDiscovery, ServiceInstance, tls_context
from servicekit.ops import MAX_INBOX_EVENT_IDS, InboxEntries


class InboxApi:
    """Asks every listed service at once; one that does not answer is reported unavailable."""

    def __init__(
        self, discovery: EurekaDiscovery | None, *, services: Sequence[str], timeout: float
    ) -> None:
        self.discovery = discovery
        self.services = list(services)
        self.timeout = timeout

    async def entries(self, event_ids: Sequence[str], *, token: str) -> InboxAnswer:
        """See Inboxes.entries: oldest first."""
        async with httpx.AsyncClient(timeout=self.timeout, verify=tls_context()) as client:
            answers = await asyncio.gather(
                *(self._ask(client, app, event_ids, token) for app in self.services)
            )
        entries = sorted(
            (entry for found, _ in answers for entry in found),
            key=lambda e: (e.processed_at, e.service, e.consumer),
        )
        return InboxAnswer(entries, [source for _, source in answers])

    async def _ask(
        self, client: httpx.AsyncClient, app: str, event_ids: Sequence[str], token: str
    ) -> tuple[list[InboxEntry], InboxSource]:
        service = app.lower()
        instances = self.discovery.round_robin(app) if self.discovery else []
        if not instances:
            return [], InboxSource(service, False, "no instance is registered in Eureka")
        found: list[InboxEntry] = []
        for start in range(0, len(event_ids), MAX_INBOX_EVENT_IDS):
            chunk = event_ids[start : start + MAX_INBOX_EVENT_IDS]
            answer, problem = await self._first_answer(client, instances, chunk, token)
            if answer is None:
                return [], InboxSource(service, False, problem)
            found += [InboxEntry(service=service, **entry.model_dump()) for entry in answer.entries]
        return found, InboxSource(service, True)

    async def _first_answer(
        self,
        client: httpx.AsyncClient,
        instances: list[ServiceInstance],
        event_ids: Sequence[str],
        token: str,
    ) -> tuple[InboxEntries | None, str]:
        """The first instance's answer; else None and what went wrong with the last one."""
        headers = {"Authorization": f"Bearer {token}"}
        if correlation_id := current().correlation_id:
            headers["X-Correlation-ID"] = correlation_id
        params = httpx.QueryParams([("event_id", event_id) for event_id in event_ids])
        problem = "no instance answered"
        for instance in instances:
            try:
                response = await client.get(
                    f"{instance.base_url}/ops/inbox", params=params, headers=headers
                )
            except httpx.HTTPError as exc:
                problem = f"{instance.instance_id} did not answer ({type(exc).__name__})"
                continue
            if response.status_code != 200:
                problem = f"{instance.instance_id} answered {response.status_code}"
                continue
            try:
                return InboxEntries.model_validate_json(response.content), ""
            except ValidationError:
                problem = f"{instance.instance_id} answered an unexpected body"
        return None, problem
