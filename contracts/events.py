"""Payload models of the integration events, registered by (event_type, version)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from servicekit.messaging.envelope import EventRegistry

CATALOG = EventRegistry()


class _Payload(BaseModel):
    # Unknown fields are kept: a newer producer may add optional fields before consumers know them.
    model_config = ConfigDict(extra="allow", frozen=True)


@CATALOG.register("account.registered")
class AccountRegistered(_Payload):
    """auth -> user (create profile), notification (welcome)."""

    user_id: str
    email: str
    full_name: str
    roles: list[str]
    registered_at: datetime
