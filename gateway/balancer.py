"""Which instance gets the next request: round robin over the UP instances Eureka lists, with an
instance that refused a connection moved to the back for a cool-down."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from servicekit.discovery import ServiceInstance


class InstanceSource(Protocol):
    """What the balancer needs from discovery (EurekaDiscovery, or a fake in unit tests)."""

    def round_robin(self, app_name: str) -> list[ServiceInstance]:
        """The app's instances, rotated one step per call."""
        ...


class Balancer:
    """Round robin with cool-down. An instance in cool-down is not dropped: it stays at the end
    of the list, so when every instance is cooling the gateway still tries them rather than
    refusing while the registry says they are UP."""

    def __init__(
        self,
        source: InstanceSource,
        *,
        cooldown_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._cooldown = cooldown_seconds
        self._clock = clock
        # base_url -> monotonic time until which the instance is tried last.
        self._cooling: dict[str, float] = {}

    def candidates(self, service: str) -> list[ServiceInstance]:
        """Instances to try, in order: ready ones in round-robin order, then cooling ones."""
        instances = self._source.round_robin(service)
        if not self._cooling:  # the common case costs one dict check
            return instances
        now = self._clock()
        ready: list[ServiceInstance] = []
        cooling: list[ServiceInstance] = []
        for instance in instances:
            until = self._cooling.get(instance.base_url)
            if until is None:
                ready.append(instance)
            elif until <= now:
                # Cool-down over: back in rotation; one more refusal puts it back.
                del self._cooling[instance.base_url]
                ready.append(instance)
            else:
                cooling.append(instance)
        return ready + cooling

    def mark_failed(self, instance: ServiceInstance) -> None:
        """The instance refused or timed out a connection: try it last for a while."""
        now = self._clock()
        # Forget entries of instances that left the registry while cooling (rare, so cheap here).
        for base_url in [url for url, until in self._cooling.items() if until <= now]:
            del self._cooling[base_url]
        self._cooling[instance.base_url] = now + self._cooldown

    def is_cooling(self, instance: ServiceInstance) -> bool:
        """True while the instance is in cool-down."""
        return self._cooling.get(instance.base_url, 0.0) > self._clock()
