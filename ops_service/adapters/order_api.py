"""The Orders port on order_service's API: found in Eureka, asked with the caller's token (an
admin's: order_service shows an admin every order), as every client would ask."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from ops_service.application.ports import DependencyUnavailable, OrderFacts, TimelineStep
from servicekit.context import current
from servicekit.discovery import EurekaDiscovery, tls_context

ORDER_SERVICE = "ORDER-SERVICE"


class OrderApi:
    """order_service's GET /api/orders/{id} and /timeline."""

    def __init__(self, discovery: EurekaDiscovery | None, *, timeout: float) -> None:
        self.discovery = discovery
        self.timeout = timeout

    async def get(self, order_id: str, *, token: str) -> OrderFacts | None:
        """See Orders.get."""
        async with httpx.AsyncClient(timeout=self.timeout, verify=tls_context()) as client:
            order = await self._get(client, f"/api/orders/{order_id}", token)
            if order is None:
                return None
            timeline = await self._get(client, f"/api/orders/{order_id}/timeline", token)
        try:
            correlation_id = order.get("correlation_id")
            return OrderFacts(
                order_id=order_id,
                created_at=_moment(order["created_at"]),
                # An order_service that does not say it yet: the messages do (application/trace).
                correlation_id=correlation_id if isinstance(correlation_id, str) else None,
                timeline=[
                    TimelineStep(
                        step=str(step["step"]),
                        event_type=str(step["event_type"]),
                        service=str(step["service"]),
                        at=_moment(step["at"]),
                    )
                    for step in timeline or []
                ],
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DependencyUnavailable("order_service answered an unexpected order") from exc

    async def _get(self, client: httpx.AsyncClient, path: str, token: str) -> Any:
        """The JSON of a 200 from the first instance that answers; None for a 404."""
        instances = self.discovery.round_robin(ORDER_SERVICE) if self.discovery else []
        if not instances:
            raise DependencyUnavailable("no ORDER-SERVICE instance is registered")
        context = current()
        headers = {"Authorization": f"Bearer {token}"}
        if context.correlation_id:
            headers["X-Correlation-ID"] = context.correlation_id
        if context.traceparent:
            headers["traceparent"] = context.traceparent
        problem = "order_service did not answer"
        for instance in instances:
            try:
                response = await client.get(f"{instance.base_url}{path}", headers=headers)
            except httpx.HTTPError as exc:
                problem = f"order_service did not answer ({type(exc).__name__})"
                continue
            if response.status_code == 404:
                return None
            if response.status_code == 200:
                try:
                    return response.json()
                except ValueError:
                    problem = "order_service answered something that is not JSON"
                    continue
            problem = f"order_service answered {response.status_code}"
        raise DependencyUnavailable(problem)


def _moment(text: str) -> datetime:
    """An ISO-8601 time from order_service, in UTC when it names no zone."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
