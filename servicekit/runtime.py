"""What a service's lifespan builds and its routes and workers reach: ServiceRuntime."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from servicekit.db import Database
from servicekit.discovery import EurekaDiscovery, EurekaRegistration
from servicekit.lifecycle import BackgroundThreads
from servicekit.messaging.inbox import InboxConsumer
from servicekit.settings import HttpServiceSettings
from servicekit.tokens import TokenVerifier


@dataclass
class ServiceRuntime:
    """Everything the lifespan builds; routes reach it through ``request.app.state.runtime``."""

    name: str
    settings: HttpServiceSettings
    database: Database
    verifier: TokenVerifier
    discovery: EurekaDiscovery | None = None
    registration: EurekaRegistration | None = None
    consumers: list[InboxConsumer] = field(default_factory=list)
    threads: BackgroundThreads | None = None
    extras: dict[str, Any] = field(default_factory=dict)
